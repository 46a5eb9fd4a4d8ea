"""portal: a covering index for a partner's balances and next payment date

Revision ID: 0006pp
Revises: 0006lc
Create Date: 2026-12-07 13:00:00

The portal's home and money pages sum one partner's ledger by status and currency and look up its
earliest expected payment date. Keyed by partner and status, this index holds every column those
two queries read, so a partner with thousands of entries costs a few index pages instead of a
visit to every entry's (wide) row.
"""

from alembic import op

revision = '0006pp'
down_revision = '0006lc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_ledger_entries_partner_money',
        'ledger_entries',
        ['partner_id', 'status', 'currency', 'amount_minor', 'expected_payment_date'],
    )


def downgrade() -> None:
    op.drop_index('ix_ledger_entries_partner_money', table_name='ledger_entries')
