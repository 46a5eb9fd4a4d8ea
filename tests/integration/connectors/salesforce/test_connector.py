"""The Salesforce connector against the fake Salesforce (TLS on loopback with a test CA, requests
checked against Salesforce's Postman collection): auth flows and the host allow-list, SOQL
injection, polling cursors, sObject Collections batching, the daily API allocation and setup
checks (the parts without a server: tests/unit/connectors/salesforce)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis as redis_lib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.errors import AuthenticationFailed, ConfigurationError, RetriableError
from connectors.salesforce import SalesforceConnector, SalesforceSettings
from connectors.salesforce.polling import polled_change
from connectors.values import Cursor
from tests.support.fake_salesforce import (
    ORG_ID,
    FakeSalesforce,
    sf_time,
)


def settings_for(fake: FakeSalesforce, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = dict(
        login_url=fake.url,
        allowed_hosts=["127.0.0.1"],
        ca_bundle=fake.ca_file,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        refresh_token=fake.refresh_token,
        organization_id=ORG_ID,
        poll_overlap_s=0,
    )
    values.update(overrides)
    return SalesforceSettings(**values)


@pytest.fixture
def connector(fake_salesforce: FakeSalesforce) -> Iterator[SalesforceConnector]:
    c = SalesforceConnector(settings_for(fake_salesforce))
    try:
        yield c
    finally:
        c.close()
        assert fake_salesforce.violations == []


# -- SOQL escaping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "x' OR Email != '",
        "x\\' OR Email != \\'",
        "' OR Id != null OR Email = '",
        "%",
    ],
)
def test_injection_attempts_match_nothing(connector, fake_salesforce, attack):
    fake_salesforce.add("Contact", {"LastName": "Doe", "Email": "jane@acme.com"})
    fake_salesforce.add("Account", {"Name": "Acme", "Website": "acme.com"})
    assert connector.find_conflicts(email=attack, domain=attack) == []
    queries = [r["query"]["q"] for r in fake_salesforce.requests if r["path"].endswith("/query/")]
    assert queries and all("MALFORMED" not in q for q in queries)
    # the same search with the real values does find them
    found = connector.find_conflicts(email="JANE@acme.com", domain="acme.com")
    assert {m.object_type for m in found} == {"contact"}


# -- auth ------------------------------------------------------------------------------------------


def test_an_expired_session_is_refreshed_once_and_the_call_goes_through(connector, fake_salesforce):
    deal = fake_salesforce.add("Opportunity", {"Name": "A", "StageName": "Prospecting", "CloseDate": "2030-01-01"})
    assert [r.id for r in connector.read_many("deal", [deal])] == [deal]
    fake_salesforce.expire_tokens()  # the org's session timeout passed
    assert [r.id for r in connector.read_many("deal", [deal])] == [deal]
    assert fake_salesforce.grants == ["refresh_token", "refresh_token"]


def test_a_refused_refresh_token_is_an_authentication_failure_without_the_token(fake_salesforce):
    bad = SalesforceConnector(settings_for(fake_salesforce, refresh_token="5Aep-revoked-token-made-up"))
    with pytest.raises(AuthenticationFailed) as caught:
        bad.read_many("deal", ["0065g0000000001AAA"])
    assert "revoked" not in str(caught.value) and "invalid_grant" in str(caught.value)
    bad.close()


def test_jwt_bearer_and_password_flows(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    fake = FakeSalesforce(jwt_public_key=public).start(ca_dir=tmp_path)
    try:
        for flow, extra in (
            ("jwt_bearer", {"username": "integration@acme.example", "private_key": pem}),
            ("password", {"username": "integration@acme.example", "password": "pw-and-token-made-up"}),
        ):
            c = SalesforceConnector(settings_for(fake, auth_flow=flow, refresh_token=None, **extra))
            assert c.read_many("deal", ["0065g0000000001AAA"]) == []
            c.close()
        assert fake.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer", "password"]
        assert fake.violations == []
    finally:
        fake.stop()


@pytest.mark.parametrize(
    "instance", ["https://evil.example.com", "https://127.0.0.1.evil.example", "http://127.0.0.1:1"]
)
def test_an_instance_url_off_the_allow_list_is_never_called(connector, fake_salesforce, instance):
    fake_salesforce.instance_url_override = instance
    with pytest.raises(ConfigurationError, match="instance_url"):
        connector.read_many("deal", ["0065g0000000001AAA"])
    assert [r["path"] for r in fake_salesforce.requests] == ["/services/oauth2/token"]


def test_a_login_url_off_the_allow_list_gets_no_credentials(fake_salesforce):
    c = SalesforceConnector(settings_for(fake_salesforce, allowed_hosts=["*.salesforce.com"]))
    with pytest.raises(ConfigurationError, match="login URL"):
        c.read_many("deal", ["0065g0000000001AAA"])
    assert fake_salesforce.request_count == 0
    c.close()


def test_tls_is_verified_against_the_configured_ca_only(fake_salesforce):
    c = SalesforceConnector(settings_for(fake_salesforce, ca_bundle=None))  # the system CAs do not know the test CA
    with pytest.raises(RetriableError, match="ConnectError"):
        c.read_many("deal", ["0065g0000000001AAA"])
    assert fake_salesforce.grants == []
    c.close()


# -- writes ----------------------------------------------------------------------------------------


def test_upserts_go_in_collections_of_200_keyed_on_the_external_id(connector, fake_salesforce):
    rows = [
        {"Partnerhub_Tracking_Id__c": f"R-{i:05d}", "LastName": f"Person {i}", "Email": f"p{i}@example.com"}
        for i in range(450)
    ]
    results = connector.upsert_many("contact", rows, key="Partnerhub_Tracking_Id__c")
    calls = [
        r
        for r in fake_salesforce.requests
        if r["path"].endswith("/composite/sobjects/Contact/Partnerhub_Tracking_Id__c")
    ]
    assert [len(__import__("json").loads(c["body"])["records"]) for c in calls] == [200, 200, 50]
    assert len(results) == 450 and all(r.created and r.error is None for r in results)
    assert len(fake_salesforce.find("Contact")) == 450
    again = connector.upsert_many("contact", rows[:3], key="Partnerhub_Tracking_Id__c")
    assert [r.created for r in again] == [False, False, False] and len(fake_salesforce.find("Contact")) == 450
    bad = connector.upsert_many("contact", [{"Partnerhub_Tracking_Id__c": "R-X"}], key="Partnerhub_Tracking_Id__c")
    assert bad[0].error and "REQUIRED_FIELD_MISSING" in bad[0].error


def test_referral_deal_is_created_once_and_a_task_once_per_key(connector, fake_salesforce):
    payload = {
        "tracking_id": "R-ONCE",
        "contact": {"email": "Jo@Initech.com", "FirstName": "Jo"},
        "company": {"domain": "initech.com", "Name": "Initech"},
        "deal": {"Name": "Initech", "StageName": "Prospecting"},
    }
    first = connector.create_referral_deal(payload, idempotency_key="k1")
    second = connector.create_referral_deal(payload, idempotency_key="k1")
    assert first["deal_id"] == second["deal_id"] and second["created"] == {}
    assert len(fake_salesforce.find("Opportunity")) == len(fake_salesforce.find("Contact")) == 1
    assert len(fake_salesforce.find("OpportunityContactRole")) == 1
    assert set(first["written"]["deal"][first["deal_id"]]) >= {
        "Name",
        "StageName",
        "CloseDate",
        "Partnerhub_Tracking_Id__c",
    }
    task = {"subject": "Call Jo", "body": "about the referral", "owner_id": None, "due_at": "2030-01-02T10:00:00Z"}
    a = connector.create_task(task, idempotency_key="task-1")
    b = connector.create_task(task, idempotency_key="task-1")
    assert a["task_id"] == b["task_id"] and b["created"] == {} and len(fake_salesforce.find("Task")) == 1
    assert fake_salesforce.find("Task")[0]["ActivityDate"] == "2030-01-02"


# -- polling ---------------------------------------------------------------------------------------


def _drain(connector, cursor=None) -> tuple[list[str], Cursor | None]:
    ids, last = [], cursor
    for page in connector.fetch_changes("deal", cursor):
        ids.extend(r.id for r in page.records)
        last = page.cursor
    return ids, last


def test_polling_never_loses_records_on_the_cursor_boundary(connector, fake_salesforce):
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    same = [
        fake_salesforce.add(
            "Opportunity",
            {"Name": f"D{i}", "StageName": "Prospecting", "CloseDate": "2030-01-01"},
            stamp=sf_time(stamp),
        )
        for i in range(5)
    ]
    ids, _ = _drain(connector)
    assert ids == same
    # a sync that stopped after the third record resumes with the two sharing its stamp
    middle = Cursor({"stamp": stamp.isoformat(), "id": same[2]})
    later = fake_salesforce.add("Opportunity", {"Name": "L", "StageName": "Prospecting", "CloseDate": "2030-01-01"})
    assert _drain(connector, middle)[0] == [*same[3:], later]
    # a row committed late with a stamp before the cursor: only the overlap window catches it
    _, end = _drain(connector, middle)
    late = fake_salesforce.add(
        "Opportunity",
        {"Name": "Late", "StageName": "Prospecting", "CloseDate": "2030-01-01"},
        stamp=sf_time(datetime.now(UTC) - timedelta(seconds=2)),
    )
    assert late not in _drain(connector, end)[0]
    overlapping = SalesforceConnector(settings_for(fake_salesforce, poll_overlap_s=10))
    assert late in _drain(overlapping, end)[0]
    overlapping.close()


def test_polling_streams_pages_of_2000_with_a_cursor_each(connector, fake_salesforce):
    fake_salesforce.seed_records("Opportunity", 4500)
    pages = connector.fetch_changes("deal", None)
    first = next(pages)
    assert len(first.records) == 2000 and first.cursor.value["id"] == first.records[-1].id
    queries = sum(n for p, n in fake_salesforce.requests_by_path.items() if "/query" in p)
    assert queries == 1  # the next page is not read before it is asked for
    rest = list(pages)
    assert [len(p.records) for p in rest] == [2000, 500]
    resumed, _ = _drain(connector, first.cursor)
    assert len(resumed) == 2500 and resumed[0] == rest[0].records[0].id


def test_a_deleted_contact_is_reported_as_a_contact_deletion_with_its_email(connector, fake_salesforce):
    kept = fake_salesforce.add("Contact", {"LastName": "Keep", "Email": "keep@acme.com"})
    gone = fake_salesforce.add("Contact", {"LastName": "Gone", "Email": "gone@acme.com"})
    fake_salesforce.delete("Contact", gone)
    records = [r for page in connector.fetch_changes("contact", None) for r in page.records]
    changes = {r.id: polled_change("contact", r) for r in records}
    assert changes[gone].event_type == "contact.deletion" and changes[gone].payload["Email"] == "gone@acme.com"
    assert changes[kept].event_type == "contact.polled"
    assert all(r["path"].endswith("/queryAll/") for r in fake_salesforce.requests if "query" in r["path"])


# -- the daily allocation --------------------------------------------------------------------------


def test_polling_waits_before_the_daily_allocation_runs_out_and_processes_share_the_figure(fake_salesforce, redis_url):
    fake_salesforce.api_limit = 100
    fake_salesforce.api_used = 84
    client = redis_lib.Redis.from_url(redis_url)
    first = SalesforceConnector(settings_for(fake_salesforce))
    first.use_redis(client)
    list(first.fetch_changes("deal", None))  # the answer says 85/100: past the 80 % polling threshold
    with pytest.raises(RetriableError) as caught:
        list(first.fetch_changes("deal", None))
    assert caught.value.retry_after and caught.value.retry_after > 0
    other = SalesforceConnector(settings_for(fake_salesforce))  # another worker, same Redis
    other.use_redis(client)
    served = fake_salesforce.request_count
    with pytest.raises(RetriableError, match="polling waits"):
        list(other.fetch_changes("deal", None))
    assert fake_salesforce.request_count == served  # refused before calling Salesforce
    assert other.read_many("deal", ["0065g0000000001AAA"]) == []  # reads the flow needs go on
    fake_salesforce.api_used = 99
    first.read_many("deal", ["0065g0000000001AAA"])
    with pytest.raises(RetriableError, match="calls wait"):
        other.read_many("deal", ["0065g0000000001AAA"])
    first.close(), other.close(), client.close()


# -- setup -----------------------------------------------------------------------------------------


def test_setup_says_exactly_which_fields_to_create(connector, fake_salesforce):
    assert connector.missing_setup() == []
    del fake_salesforce.custom["Opportunity"]["Partnerhub_Tracking_Id__c"]
    fake_salesforce.custom["Contact"]["Partnerhub_Tracking_Id__c"] = ("s", False)
    missing = connector.missing_setup()
    assert missing[0] == (
        "Opportunity.Partnerhub_Tracking_Id__c is missing: Setup > Object Manager > Opportunity > "
        "Fields & Relationships > New: Text, label 'Partnerhub Tracking Id', length 64, field name "
        "'Partnerhub_Tracking_Id' (API name Partnerhub_Tracking_Id__c), tick 'Unique' and "
        "'External ID'; make it visible and editable for the integration user"
    )
    assert "Contact.Partnerhub_Tracking_Id__c must be an External ID with unique values" in missing[1]
    with pytest.raises(ConfigurationError, match="cannot be created through the REST API"):
        connector.ensure_setup()
