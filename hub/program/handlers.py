"""How the pipeline reaches the partner-program domain: the handler tables it is given.

``inbox_handlers(ctx)`` tells the engine (``hub.pipeline.engine``) what the domain does with an
inbox event; ``outbox_follow_ups(ctx)`` tells the outbox job (``hub.pipeline.effects``) what
follows a carried-out action; ``outbox_preparers(...)`` what is filled in at send time (a sign-in
link, never stored). All are bound to one process's context and built by the runtime
(``hub.runtime.jobs``). Adding a kind of event or a canonical target the domain handles is one
line here, not an import in the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from connectors.values import DealParties, Record
from hub.mapping import Canonical
from hub.mapping.events import event_record
from hub.pipeline.batches import WRITE_RECORD
from hub.pipeline.effects import FollowUp, remember_writes
from hub.pipeline.engine import READ_AHEAD, DomainHandlers, Route, event_action
from hub.pipeline.models import InboxEvent, OutboxItem
from hub.pipeline.outbox import Preparer
from hub.program import (
    access,
    attribution,
    commissions,
    deals,
    onboarding,
    parties,
    payments,
    payouts,
    privacy,
    referrals,
    registrations,
    writeback,
)
from hub.program.context import ProgramContext
from hub.program.email import events as email_events
from hub.program.email import inbound as inbound_mail
from hub.program.email.notify import record_sent
from hub.program.models import CrmCompany, CrmContact

LMS = "lms"  # the learning platform's connector (``connectors.lms``)
#: the domain read-ahead's key: the (connector, deal id) of deal events whose record names
#: contacts or companies (their links are written, so the chunk reads them first)
CARRY_PARTIES = "carry_parties"


def inbox_handlers(ctx: ProgramContext) -> DomainHandlers:
    """The domain's side of the engine, bound to ``ctx``. Routes are tried in this order."""

    def internal(session: Session, event: InboxEvent) -> str:
        """The hub's own events: a deal registration, else a submitted referral."""
        if event.event_type == registrations.EVENT_TYPE:
            return registrations.process(session, ctx, int(event.object_id))
        return referrals.process_submitted(session, ctx, int(event.object_id))

    def forget_person(session: Session, event: InboxEvent) -> str:
        """A CRM's ``contact.deletion``/``contact.privacyDeletion``."""
        report = privacy.forget(
            session,
            email=privacy.email_in(event.payload),
            actor=f"{event.connector}:{event.event_type}",
            crm=event.connector,
            contact_id=event.object_id,
            reason=event.event_type,
        )
        return f"forgotten:{report.total}"

    def is_payment(event: InboxEvent) -> bool:
        return payments.is_payment_connector(ctx.connectors.get(event.connector))

    def payment(session: Session, event: InboxEvent) -> str:
        return payments.process(session, ctx, event)  # customers, revenue facts, accounts

    def lms(session: Session, event: InboxEvent) -> str:
        """The learning platform's signed webhook: a module completed, a certification granted."""
        return onboarding.lms_event(session, ctx, dict(event.payload))

    routes = (
        Route(lambda event: event.connector == referrals.INTERNAL, internal),
        Route(lambda event: privacy.is_person_deletion(event.object_type, event.event_type), forget_person),
        Route(is_payment, payment),
        Route(lambda event: event.connector == LMS, lms),
    )

    def deal_changed(session: Session, event: InboxEvent, change: Canonical, version: int) -> str:
        """Write the deal record (version guard), then the partner side: sticky attribution,
        the referral's status and its email, the commission."""
        outcome, deal, applied, first_seen = deals.apply_change(session, event.connector, change, version)
        if deal is not None and outcome != "stale":
            carried = parties.record_from_deal(session, event.connector, deal.external_id, applied)
            association_change = event_action(event.event_type) == "associationChange"
            ahead = session.info.get(READ_AHEAD, {}).get(referrals.PARTIES_AHEAD, {})
            happened = referrals.on_deal_changed(
                session,
                ctx,
                deal,
                applied,
                look_up_parties=first_seen or association_change,
                local_parties_current=carried or not association_change,
                parties_ahead=ahead.get((event.connector, deal.external_id)),
            )
            # the partner data the CRM shows, under each field's owner rule
            happened += writeback.sync_deal(session, ctx, deal, inbox_event_id=event.id)
            if happened:
                outcome = f"{outcome}:{','.join(happened)}"[:64]
        return outcome

    def contact_changed(session: Session, event: InboxEvent, change: Canonical, version: int) -> str:
        return parties.apply_change(session, "contact", event.connector, change, version)

    def company_changed(session: Session, event: InboxEvent, change: Canonical, version: int) -> str:
        return parties.apply_change(session, "company", event.connector, change, version)

    def notification_event(session: Session, event: InboxEvent, change: Canonical, version: int) -> str:
        return email_events.apply(session, change)

    def inbound_email(session: Session, event: InboxEvent, change: Canonical, version: int) -> str:
        return inbound_mail.apply(session, ctx, change)

    def read_ahead(events: Sequence[InboxEvent], records: Mapping[tuple[str, str, str], Any]) -> dict[str, Any]:
        """Before a chunk's transaction: the CRM's parties of the chunk's deals, for those whose
        lookup the hub's own records cannot answer. A deal record naming both its contacts and
        its companies (``parties.DEAL_PARTY_FIELDS``: Salesforce, Pipedrive, a HubSpot record
        read with its associations) is answered from ``hub.program.parties`` in the transaction;
        a HubSpot deal read in a batch names neither. ``records``: the engine's read-ahead."""
        mappings = ctx.mappings.current
        deal_events = []
        carried = set()
        for event in events:
            plan = mappings.for_source(event.connector, event.object_type)
            if plan is None or plan.target != "deal":
                continue
            read = records.get((event.connector, event.object_type, event.object_id))
            if isinstance(read, Record):
                source, partial = dict(read.raw), False
            else:
                source, partial = event_record(event.connector, event.payload)
            try:
                change = plan.inbound(source, partial=partial)
            except Exception:  # the event fails on its own in the transaction
                continue
            if change is None:
                continue
            if any(change.fields.get(name) is not None for name in parties.DEAL_PARTY_FIELDS):
                carried.add((event.connector, event.object_id))  # its links are written
                if all(change.fields.get(name) is not None for name in parties.DEAL_PARTY_FIELDS):
                    continue
            changed = event_action(event.event_type) == "associationChange"
            deal_events.append((event.connector, event.object_id, changed))
        return {referrals.PARTIES_AHEAD: referrals.read_parties_ahead(ctx, deal_events), CARRY_PARTIES: carried}

    def prefetch(session: Session, events: Sequence[InboxEvent]) -> dict[str, Any]:
        """In a chunk's transaction, before its events run: the deals its deal events name, in
        one locking statement (``deals.preload``), and which of them have no ledger entries
        (``commissions.unsettled_deals``), so a deal with no partner reads no ledger. Unless
        the chunk holds an event the domain takes whole (``routes``: the hub's own events, a
        person's deletion, payments — they may add or change referrals and parties outside
        the ORM's view), also the deals' contact and company links and the records they name
        (``parties.preload_links``, ``parties.preload_records``) and the referrals those
        parties and the CRM's parties read ahead could match (``attribution.preload_candidates``)."""
        mappings = ctx.mappings.current
        keys = set()
        for event in events:
            plan = mappings.for_source(event.connector, event.object_type)
            if plan is not None and plan.target == "deal":
                keys.add((event.connector, event.object_id))
        found = deals.preload(session, keys)
        unsettled = commissions.unsettled_deals(session, [d.id for d in found.values() if d is not None])
        ahead: dict[str, Any] = {deals.DEALS_AHEAD: found, commissions.UNSETTLED_AHEAD: unsettled}
        if not keys or any(route.applies(event) for event in events for route in routes):
            return ahead
        # links for the deals whose links are written or looked up: new to the hub, carrying
        # their parties, or their associations changed; party records for those looked up
        read: dict[str, Any] = session.info.get(READ_AHEAD, {})
        carrying = read.get(CARRY_PARTIES) or set()
        reassociated = {(e.connector, e.object_id) for e in events if event_action(e.event_type) == "associationChange"}
        lookup = {k for k in keys if (d := found[k]) is None or (k in reassociated and d.partner_id is None)}
        links = parties.preload_links(session, lookup | (keys & (carrying | reassociated)))
        records = parties.preload_records(session, {k: v for k, v in links.items() if k in lookup})
        emails = [r.email for r in records.values() if isinstance(r, CrmContact) and r.email]
        domains = [r.domain for r in records.values() if isinstance(r, CrmCompany) and r.domain]
        for who in (read.get(referrals.PARTIES_AHEAD) or {}).values():
            if isinstance(who, DealParties):
                emails += who.emails
                domains += who.domains
        candidates = attribution.preload_candidates(session, ctx.program.attribution, emails, domains)
        ahead.update(
            {
                parties.LINKS_AHEAD: links,
                parties.RECORDS_AHEAD: records,
                attribution.CANDIDATES_AHEAD: candidates,
            }
        )
        return ahead

    def deals_merged(session: Session, source: str, merge: Any) -> None:
        deals.merge(session, ctx.program, source, merge.from_ids, merge.into_id)
        parties.merge_deal_links(session, source, merge.from_ids, merge.into_id)

    def contacts_merged(session: Session, source: str, merge: Any) -> None:
        parties.merge(session, "contact", source, merge.from_ids, merge.into_id)

    def companies_merged(session: Session, source: str, merge: Any) -> None:
        parties.merge(session, "company", source, merge.from_ids, merge.into_id)

    return DomainHandlers(
        routes=routes,
        targets={
            "deal": deal_changed,
            "contact": contact_changed,  # the CRM's parties (hub.program.parties)
            "company": company_changed,
            "notification_event": notification_event,
            "inbound_email": inbound_email,
        },
        merges={"deal": deals_merged, "contact": contacts_merged, "company": companies_merged},
        read_ahead=read_ahead,
        prefetch=prefetch,
    )


def outbox_follow_ups(ctx: ProgramContext) -> dict[str, FollowUp]:
    """What follows each carried-out outbox action, bound to ``ctx``."""

    def referral_deal(session: Session, item: OutboxItem) -> None:
        remember_writes(session, item)
        referral_id = item.payload.get("referral_id")
        if referral_id is not None:
            referrals.deal_created(session, int(referral_id), item.result or {})

    def record_written(session: Session, item: OutboxItem) -> None:
        remember_writes(session, item)
        writeback.written(session, item)  # the sync base of the fields it carried

    def transfer_made(session: Session, item: OutboxItem) -> None:
        payouts.transfer_done(session, ctx, item)

    return {
        "create_referral_deal": referral_deal,
        "update_deal": remember_writes,
        WRITE_RECORD: record_written,  # a CRM record write, batched (hub.pipeline.batches)
        "send_email": record_sent,
        "create_transfer": transfer_made,  # payout paid, its entries paid, partner emailed
    }


def outbox_preparers(secret: Callable[[], bytes], base_url: Callable[[], str]) -> dict[str, Preparer]:
    """What turns a stored payload into the one sent, just before the connector gets it: the
    sign-in mail's link (``hub.program.access``), from the web secret and the public base URL."""
    return {"send_email": access.signin_preparer(secret, base_url)}
