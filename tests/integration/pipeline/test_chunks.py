"""Inbox events a chunk at a time (``hub.pipeline.chunks``), in the test process on SQLite and
PostgreSQL: a chunk ends as one-by-one processing would, one bad event fails alone, a claim never
takes an event of an object another worker holds, and leases are renewed, fenced, while held."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from connectors.values import Change
from hub.pipeline import work
from hub.pipeline.chunks import ChunkRunner
from hub.pipeline.engine import HubEngine
from hub.pipeline.inbox import event_rows, insert_events
from hub.pipeline.models import Alert, InboxEvent, WorkState
from hub.pipeline.store import utcnow
from hub.program import referrals
from hub.program.handlers import inbox_handlers
from hub.program.models import Deal
from hub.runtime import jobs
from hub.runtime.context import Hub, set_current
from hub.runtime.settings import load_settings
from tests.support.program_hub import open_program_hub

_ids = count(1)


@pytest.fixture
def hub(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    h = open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=None, admin_token="t" * 32)
    set_current(h)
    yield h
    h.close()


def change(deal_id: int, prop: str, value: str, version: int) -> Change:
    """A HubSpot ``deal.propertyChange`` webhook event, as the receiver stores it."""
    event_id = next(_ids)
    payload = {
        "objectId": deal_id,
        "propertyName": prop,
        "propertyValue": value,
        "changeSource": "CRM_UI",
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": version,
        "eventType": "deal.propertyChange",
        "attemptNumber": 0,
    }
    return Change(str(event_id), "deal.propertyChange", "deal", str(deal_id), version, payload)


def store(hub: Hub, changes: list[Change]) -> list[int]:
    with hub.sessions() as session, session.begin():
        now = utcnow()
        found = insert_events(
            session.connection(), event_rows("hubspot", changes, now=now, look_again=now + timedelta(hours=1))
        )
    return [found[("hubspot", c.event_key)] for c in changes]


def rows(hub: Hub, ids: list[int]) -> list[InboxEvent]:
    with hub.sessions() as session:
        found = {r.id: r for r in session.scalars(select(InboxEvent).where(InboxEvent.id.in_(ids)))}
    return [found[i] for i in ids]


def deal(hub: Hub, deal_id: int) -> Deal:
    with hub.sessions() as session:
        return session.scalars(select(Deal).where(Deal.external_id == str(deal_id))).one()


def out_of_order(deal_id: int) -> list[Change]:
    """Changes of one deal in the order a webhook might bring them: versions 3, 1, 5, 2, 4."""
    return [
        change(deal_id, "dealstage", "qualifiedtobuy", 3_000),
        change(deal_id, "dealname", "Old name", 1_000),
        change(deal_id, "dealstage", "closedwon", 5_000),
        change(deal_id, "dealstage", "appointmentscheduled", 2_000),
        change(deal_id, "dealname", "New name", 4_000),
    ]


def test_a_chunk_of_out_of_order_events_ends_as_one_by_one(hub: Hub) -> None:
    chunked = store(hub, out_of_order(101))
    assert jobs.process_inbox_events(chunked) == [WorkState.DONE] * 5  # one job, one chunk

    single = store(hub, out_of_order(202))
    one_by_one = ChunkRunner(hub, HubEngine(hub, inbox_handlers(hub)), jobs.leases(hub), fill_to=0)
    for event_id in single:  # one job (and one transaction) per event, in the same order
        assert one_by_one.run([event_id]) == {event_id: WorkState.DONE}

    a, b = deal(hub, 101), deal(hub, 202)
    assert (a.name, a.stage, a.version_ms) == ("New name", "closedwon", 5_000)
    assert (a.name, a.stage, a.status, a.version_ms) == (b.name, b.stage, b.status, b.version_ms)
    assert {**a.properties, "external_id": "-"} == {**b.properties, "external_id": "-"}
    assert a.property_versions == b.property_versions
    assert [r.outcome for r in rows(hub, chunked)] == [r.outcome for r in rows(hub, single)]
    assert [r.outcome for r in rows(hub, chunked)][3] == "stale"  # version 2 after version 3
    assert {r.attempts for r in rows(hub, chunked)} == {1}


def test_a_jobs_claim_is_filled_from_the_backlog(hub: Hub) -> None:
    """A webhook request's job carries its own few ids; the claim takes the oldest other waiting
    events with them, and their own jobs then find them done."""
    ids = store(hub, [change(600 + n, "dealname", f"N{n}", 1_000) for n in range(5)])
    assert jobs.process_inbox_events(ids[:1]) == [WorkState.DONE]
    assert [r.state for r in rows(hub, ids)] == [WorkState.DONE] * 5
    assert jobs.process_inbox_events(ids[1:]) == [None] * 4  # their jobs: nothing left to do


def test_a_full_claim_rolls_on_with_the_next_read_in_the_thread(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a job whose claim came back full claims the backlog's next events before its
    last chunk runs, and reads them ahead in the read-ahead thread meanwhile: only the job's first
    read is made in the worker's own thread. Every event is done once, by its first attempt. On
    SQLite (one writer) the job stops after its claim; the rest waits for the next job."""
    import threading

    engine = HubEngine(hub, inbox_handlers(hub))
    threads: list[str] = []
    real = engine.read_ahead

    def read_ahead(events: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(events)

    monkeypatch.setattr(engine, "read_ahead", read_ahead)
    ids = store(hub, [change(650 + n, "dealname", f"N{n}", 1_000) for n in range(10)])
    runner = ChunkRunner(hub, engine, jobs.leases(hub), fill_to=3)
    states = runner.run(ids[:1])
    if hub.engine.dialect.name == "sqlite":
        assert threads == [threading.current_thread().name]  # one claim, one read
        done = [r.id for r in rows(hub, ids) if r.state == WorkState.DONE]
        assert 0 < len(done) <= 3 and states == dict.fromkeys(done, WorkState.DONE)
        return
    assert states == dict.fromkeys(ids, WorkState.DONE)  # claims of 3, 3, 3 and 1 events
    assert threads[0] == threading.current_thread().name and len(threads) == 4
    assert all(name.startswith("partnerhub-read-ahead") for name in threads[1:]), threads
    assert {(r.state, r.attempts) for r in rows(hub, ids)} == {(WorkState.DONE, 1)}
    assert {deal(hub, 650 + n).name for n in range(10)} == {f"N{n}" for n in range(10)}


def test_one_bad_event_fails_alone(hub: Hub) -> None:
    ids = store(
        hub,
        [
            change(301, "dealname", "Good one", 1_000),
            change(302, "dealstage", "no-such-stage", 1_000),  # the value map does not know it
            change(303, "dealname", "Good two", 1_000),
        ],
    )
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    sa_event.listen(hub.engine, "before_cursor_execute", seen)
    try:
        states = jobs.process_inbox_events(ids)
    finally:
        sa_event.remove(hub.engine, "before_cursor_execute", seen)

    assert states == [WorkState.DONE, WorkState.DEAD, WorkState.DONE]
    # run at once first (event 1's deal written, then event 2 fails: all rolled back), then
    # again with a savepoint per event that writes (events 1 and 3)
    assert len([s for s in statements if s.startswith("insert into deals")]) == 3, statements
    assert len([s for s in statements if s.startswith("savepoint")]) == 2, statements
    good, bad, other = rows(hub, ids)
    assert bad.state == WorkState.DEAD and bad.last_error_kind and "no-such-stage" in (bad.last_error or "")
    assert (good.outcome, other.outcome) == ("applied", "applied")
    assert (deal(hub, 301).name, deal(hub, 303).name) == ("Good one", "Good two")
    with hub.sessions() as session:
        assert session.scalars(select(Deal).where(Deal.external_id == "302")).first() is None  # rolled back
        assert [a.kind for a in session.scalars(select(Alert))].count("dead_letter") == 1


def test_a_chunk_reads_its_deals_in_one_statement(hub: Hub) -> None:
    """The chunk's deals are read (and, on PostgreSQL, locked) in one statement before its
    events run, not one select per event; which of them have ledger entries likewise."""
    first = store(hub, [change(700 + n, "dealname", f"N{n}", 1_000) for n in range(5)])
    assert jobs.process_inbox_events(first) == [WorkState.DONE] * 5
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    sa_event.listen(hub.engine, "before_cursor_execute", seen)
    try:
        again = store(hub, [change(700 + n, "dealstage", "qualifiedtobuy", 2_000) for n in range(5)])
        assert jobs.process_inbox_events(again) == [WorkState.DONE] * 5
    finally:
        sa_event.remove(hub.engine, "before_cursor_execute", seen)
    deal_reads = [s for s in statements if s.startswith("select") and "from deals" in s]
    assert len(deal_reads) == 1, deal_reads
    if hub.engine.dialect.name == "postgresql":
        assert "for update" in deal_reads[0] and "order by deals.id" in deal_reads[0]
    ledger_reads = [s for s in statements if s.startswith("select") and "from ledger_entries" in s]
    assert len(ledger_reads) == 1, ledger_reads  # no partner: no per-event ledger select
    # no event failed: the chunk ran with no savepoint per event
    assert not [s for s in statements if "savepoint" in s], statements
    assert {deal(hub, 700 + n).stage for n in range(5)} == {"qualifiedtobuy"}


def test_a_rolled_back_event_leaves_no_stale_preloaded_deal(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event that fails after it created or changed its deal is rolled back to its savepoint;
    the chunk's later events of that deal see the deal as it was before it, as one by one."""
    real = referrals.on_deal_changed

    def failing(session: Any, ctx: Any, deal: Deal, applied: dict[str, Any], **kwargs: Any) -> list[str]:
        if applied.get("name") == "Boom":
            raise RuntimeError("boom after the deal was written")
        return real(session, ctx, deal, applied, **kwargs)

    monkeypatch.setattr(referrals, "on_deal_changed", failing)

    def events(known: int, new: int) -> list[Change]:
        return [
            change(known, "dealname", "Boom", 2_000),  # changes a preloaded deal, then fails
            change(known, "dealstage", "qualifiedtobuy", 1_500),
            change(new, "dealname", "Boom", 1_000),  # creates the deal, then fails
            change(new, "dealname", "Fine", 900),
        ]

    first = store(hub, [change(801, "dealname", "Start", 1_000), change(901, "dealname", "Start", 1_000)])
    assert jobs.process_inbox_events(first) == [WorkState.DONE] * 2
    chunked = store(hub, events(801, 802))
    expected = [WorkState.DEAD, WorkState.DONE, WorkState.DEAD, WorkState.DONE]
    assert jobs.process_inbox_events(chunked) == expected  # one job, one chunk

    single = store(hub, events(901, 902))
    one_by_one = ChunkRunner(hub, HubEngine(hub, inbox_handlers(hub)), jobs.leases(hub), fill_to=0)
    for event_id, state in zip(single, expected, strict=True):
        assert one_by_one.run([event_id]) == {event_id: state}

    for a, b in ((deal(hub, 801), deal(hub, 901)), (deal(hub, 802), deal(hub, 902))):
        assert (a.name, a.stage, a.version_ms) == (b.name, b.stage, b.version_ms)
        assert a.property_versions == b.property_versions
    assert (deal(hub, 801).name, deal(hub, 801).stage) == ("Start", "qualifiedtobuy")
    assert deal(hub, 802).name == "Fine"
    assert [r.outcome for r in rows(hub, chunked)] == [r.outcome for r in rows(hub, single)]


def test_a_claim_skips_objects_another_worker_holds(hub: Hub) -> None:
    held, same_object, other_object = store(
        hub, [change(401, "dealname", "A", 1_000), change(401, "dealname", "B", 2_000), change(402, "dealname", "C", 1)]
    )
    with hub.sessions() as session, session.begin():
        [(first, _)] = work.claim_events(session, [held], lease_s=60)
    with hub.sessions() as session, session.begin():
        taken = work.claim_events(session, [same_object, other_object], lease_s=60)
    assert [c.id for c, _ in taken] == [other_object]  # 401 is held by the first claim
    event = taken[0][1]
    assert (event.object_id, event.payload["propertyValue"], event.attempts) == ("402", "C", 1)  # no reload

    # the first worker's lease runs out: its event and the waiting one are claimable again, and
    # the first worker can no longer finish over the new attempt (fenced on the attempt number)
    with hub.sessions() as session, session.begin():
        session.get(InboxEvent, held).next_attempt_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
    with hub.sessions() as session, session.begin():
        again = work.claim_events(session, [held, same_object], lease_s=60)
    assert [(c.id, c.attempt) for c, _ in again] == [(held, 2), (same_object, 1)]
    with hub.sessions() as session, session.begin():
        assert work.finish_events(session, {first: "late"}) == set()
        assert work.finish_events(session, {again[0][0]: "applied"}) == {held}
    assert [(r.state, r.outcome) for r in rows(hub, [held])] == [(WorkState.DONE, "applied")]


def test_a_claim_skips_an_object_held_through_one_of_its_own_ids(hub: Hub) -> None:
    """Another worker's fill took one of this job's events: this claim must not take the other
    events of that object (two workers would apply one deal at once and both create it)."""
    held, same_object, other_object = store(
        hub, [change(451, "dealname", "A", 1_000), change(451, "dealname", "B", 2_000), change(452, "dealname", "C", 1)]
    )
    with hub.sessions() as session, session.begin():
        assert [c.id for c, _ in work.claim_events(session, [held], lease_s=60)] == [held]
    with hub.sessions() as session, session.begin():
        taken = work.claim_events(session, [held, same_object, other_object], lease_s=60)
    assert [c.id for c, _ in taken] == [other_object]
    assert [r.state for r in rows(hub, [held, same_object])] == [WorkState.PROCESSING, WorkState.RECEIVED]


def test_leases_are_renewed_while_held_and_fenced(hub: Hub) -> None:
    [event_id] = store(hub, [change(501, "dealname", "A", 1_000)])
    with hub.sessions() as session, session.begin():
        [(claim, _)] = work.claim_events(session, [event_id], lease_s=1)
    leases = work.Leases(hub.sessions, lease_s=60)
    before = rows(hub, [event_id])[0].next_attempt_at
    assert leases.renew() == 0  # nothing held
    leases.hold(InboxEvent, [claim])
    try:
        assert leases.renew() == 1
        renewed = rows(hub, [event_id])[0].next_attempt_at
        assert renewed - before > timedelta(seconds=50)
        # another attempt takes the row over: the old claim's renewal no longer touches it
        with hub.sessions() as session, session.begin():
            row: Any = session.get(InboxEvent, event_id)
            row.attempts, row.next_attempt_at = 2, before
        assert leases.renew() == 0
        assert rows(hub, [event_id])[0].next_attempt_at == before
    finally:
        leases.release(InboxEvent, [claim])
        leases.stop()
    assert leases.renew() == 0


def test_new_deals_parties_are_read_ahead_in_batches(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_hubspot: Any
) -> None:
    """A chunk of deals new to the hub: their contacts and companies (for attribution by
    referral match) are read before the chunk's transaction, in four calls for the chunk (the
    v4 batch association read to contacts and to companies, one batch read of each), not two
    to four calls per deal inside it."""
    from datetime import UTC, datetime

    from tests.support.hubspot_hub import hubspot_env

    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    deals = [str(900 + n) for n in range(6)]
    for n, deal_id in enumerate(deals):
        fake_hubspot.set_deal(deal_id, stamp, dealname=f"Deal {n}", dealstage="appointmentscheduled")
        if n % 2 == 0:  # half the deals have a contact and a company
            contact = fake_hubspot.add("contacts", {"email": f"Buyer{n}@Example{n}.com"})
            company = fake_hubspot.add("companies", {"domain": f"example{n}.com"})
            fake_hubspot.associate("deals", deal_id, "contacts", contact)
            fake_hubspot.associate("deals", deal_id, "companies", company)
    open_program_hub(database_url, redis_url, tmp_path, monkeypatch, program=None, admin_token="t" * 32).close()
    for key, value in hubspot_env(fake_hubspot).items():  # the same hub, with HubSpot's API
        monkeypatch.setenv(key, value)
    h = Hub.open(load_settings())
    set_current(h)
    try:
        from hub.program import referrals

        found = referrals.read_parties_ahead(h, [("hubspot", d, False) for d in deals])
        assert found[("hubspot", "900")].emails == ("buyer0@example0.com",)
        assert found[("hubspot", "900")].domains == ("example0.com",)
        assert found[("hubspot", "901")].emails == () and found[("hubspot", "901")].domains == ()

        from datetime import timedelta

        from hub.program.models import Partner, Referral

        with h.sessions() as session, session.begin():  # a referral for deal 902's contact
            partner = Partner(name="P", email="p@partners.example", status="active", created_at=utcnow())
            session.add(partner)
            session.flush()
            at = stamp - timedelta(days=10)
            referral = Referral(
                tracking_id="chunk-902",
                partner_id=partner.id,
                company_name="Example 2",
                contact_email="buyer2@example2.com",
                status="submitted",
                history=[],
                created_at=at,
                updated_at=at,
            )
            session.add(referral)
            session.flush()
            partner_id, referral_id = partner.id, referral.id
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(" ".join(statement.split()).lower())

        before = len(fake_hubspot.requests)
        ids = store(h, [change(int(d), "dealstage", "qualifiedtobuy", 5_000) for d in deals])
        sa_event.listen(h.engine, "before_cursor_execute", seen)
        try:
            assert jobs.process_inbox_events(ids) == [WorkState.DONE] * len(deals)
        finally:
            sa_event.remove(h.engine, "before_cursor_execute", seen)
        # the chunk's links and its referral candidates: one select each, not one per deal;
        # each deal's new links inserted in one statement
        selects = [s for s in statements if s.startswith("select")]
        assert len([s for s in selects if "from crm_deal_parties" in s]) == 1, selects
        assert len([s for s in selects if "from referrals" in s]) == 1, selects
        inserts = [s for s in statements if s.startswith("insert into crm_deal_parties")]
        assert len(inserts) == len(deals[::2]), inserts
        attributed = {
            d.external_id: (d.partner_id, d.referral_id, d.attribution_source) for d in (deal(h, int(i)) for i in deals)
        }
        assert attributed["902"] == (partner_id, referral_id, "email")
        assert {k: v for k, v in attributed.items() if k != "902"} == {
            k: (None, None, None) for k in deals if k != "902"
        }
        paths = [r["path"].split("?")[0] for r in fake_hubspot.requests[before:]]
        assert sorted(paths) == sorted(
            [
                "/crm/v3/objects/deals/batch/read",
                "/crm/v4/associations/deals/contacts/batch/read",
                "/crm/v4/associations/deals/companies/batch/read",
                "/crm/v3/objects/contacts/batch/read",
                "/crm/v3/objects/companies/batch/read",
            ]
        )
        # the parties read ahead are kept as the deals' associations (hub.program.parties)
        from hub.program.models import CrmDealParty

        with h.sessions() as session:
            links = session.execute(select(CrmDealParty.deal_id, CrmDealParty.party_type)).all()
        assert sorted(links) == sorted((d, t) for d in deals[::2] for t in ("company", "contact"))
        # known deals now: another change reads the deals only, no parties
        before = len(fake_hubspot.requests)
        ids = store(h, [change(int(d), "dealstage", "closedwon", 6_000) for d in deals])
        assert jobs.process_inbox_events(ids) == [WorkState.DONE] * len(deals)
        assert [r["path"] for r in fake_hubspot.requests[before:]] == ["/crm/v3/objects/deals/batch/read"]
    finally:
        h.close()
