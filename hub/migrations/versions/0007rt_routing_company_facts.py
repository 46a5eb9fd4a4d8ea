"""routing: the referred company's country and industry, as the partner gave them

Revision ID: 0007rt
Revises: 0006pp
Create Date: 2026-12-07 15:30:00

The owner rules route a new deal by the referred company's country and industry too
(``hub.program.routing``); the referral and deal-registration forms may give them.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007rt'
down_revision = '0006pp'
branch_labels = None
depends_on = None

TABLES = ('referrals', 'deal_registrations')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('company_country', sa.String(length=2), nullable=True))
            batch_op.add_column(sa.Column('company_industry', sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('company_industry')
            batch_op.drop_column('company_country')
