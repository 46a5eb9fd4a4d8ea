"""HubSpot outbound: the partner flow's CRM surface (conflict check, referral deal, deal update,
custom-field setup), OAuth, against the fake HubSpot API over real HTTP on loopback.

Request bodies are built with hubspot-api-client's models and the fake refuses anything those
models do not know; payload property dicts come from the real mapping files' outbound plans."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis as redis_lib
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.capabilities import CrmConnector
from connectors.errors import AuthenticationFailed, ConfigurationError, RetriableError
from connectors.hubspot import TRACKING_ID, HubSpotConnector, HubSpotSettings
from connectors.values import CrmMatch
from hub.mapping import load_mappings
from hub.pipeline.outbox import carry_out
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.hubspot_hub import TOKEN
from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"
CLIENT_ID = "client-id-0000"  # made up for tests
CLIENT_SECRET = "client-secret-0000-made-up"
REFRESH_TOKEN = "refresh-token-0000-made-up"


def connector_for(fake: FakeHubSpot, **settings: Any) -> HubSpotConnector:
    base: dict[str, Any] = {"access_token": SecretStr(TOKEN), "api_base_url": fake.url}
    base.update(settings)
    return HubSpotConnector(HubSpotSettings(**base))


@pytest.fixture
def hubspot(fake_hubspot: FakeHubSpot) -> Any:
    connector = connector_for(fake_hubspot)
    connector.ensure_setup()
    yield connector
    connector.close()


def referral_payload(
    tracking_id: str = "R-7Q2K",
    *,
    email: str = "ann@acme.example",
    domain: str | None = "acme.example",
    first: str = "Ann",
    last: str = "Lee",
) -> dict[str, Any]:
    """What the partner flow puts in the outbox: property dicts from the mapping plans."""
    plans = load_mappings(MAPPINGS)
    deal = plans.for_source("hubspot", "deal").outbound(
        {  # type: ignore[union-attr]
            "name": "Acme Corp",
            "stage": "appointmentscheduled",
            "pipeline": "default",
            "tracking_id": tracking_id,
            "partner_id": "17",
            "source": "partner_referral",
        }
    )
    contact = plans.for_source("hubspot", "contact").outbound(
        {  # type: ignore[union-attr]
            "email": email,
            "first_name": first,
            "last_name": last,
            "partner_id": "17",
            "tracking_id": tracking_id,
        }
    )
    company = plans.for_source("hubspot", "company").outbound(
        {  # type: ignore[union-attr]
            "name": "Acme Corp",
            "domain": domain,
            "partner_id": "17",
        }
    )
    return {
        "tracking_id": tracking_id,
        "contact": {"email": email, **contact},
        "company": {"domain": domain, **company} if domain else None,
        "deal": deal,
        "owner_id": "9001",
        "referral_id": 1,  # the flow's own keys ride along and are ignored
    }


def run_action(connector: HubSpotConnector, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Through the outbox dispatcher's own entry point, as a worker runs it."""
    hub = SimpleNamespace(connectors={"hubspot": connector})
    item = SimpleNamespace(
        id=1, connector="hubspot", action=action, payload=payload, idempotency_key="crm:referral-deal:1"
    )
    result = carry_out(hub, item)  # type: ignore[arg-type]
    json.dumps(result)  # stored as the outbox row's JSON result
    return result


# -- create_referral_deal -------------------------------------------------------------------


def test_create_referral_deal_twice_makes_one_contact_one_company_one_deal(hubspot, fake_hubspot):
    fake_hubspot.search_lag_s = 600  # nothing new shows in search: the re-run must not rely on it
    payload = referral_payload()

    first = run_action(hubspot, "create_referral_deal", payload)
    second = run_action(hubspot, "create_referral_deal", payload)

    assert len(fake_hubspot.deals) == 1 and len(fake_hubspot.contacts) == 1 and len(fake_hubspot.companies) == 1
    deal_id, contact_id, company_id = first["deal_id"], first["contact_id"], first["company_id"]
    assert (second["deal_id"], second["contact_id"], second["company_id"]) == (deal_id, contact_id, company_id)
    assert first["contact_created"] is True and second["contact_created"] is False
    # associated once each, and the re-run wrote no association again
    assert fake_hubspot.associated("deals", deal_id, "contacts") == [contact_id]
    assert fake_hubspot.associated("deals", deal_id, "companies") == [company_id]
    assert sorted(fake_hubspot.association_writes) == sorted(
        [("contacts", contact_id, "deals", deal_id), ("companies", company_id, "deals", deal_id)]
    )
    deal = fake_hubspot.deals[deal_id]
    assert deal[TRACKING_ID] == "R-7Q2K" and deal["partnerhub_partner_id"] == "17"
    assert deal["hubspot_owner_id"] == "9001" and deal["dealname"] == "Acme Corp"
    assert fake_hubspot.contacts[contact_id]["firstname"] == "Ann"
    # everything the hub wrote is reported for echo suppression; the re-run wrote nothing
    assert first["written"]["deal"] == {deal_id: deal}
    assert first["written"]["contact"] == {contact_id: fake_hubspot.contacts[contact_id]}
    assert first["written"]["company"] == {company_id: fake_hubspot.companies[company_id]}
    assert first["created"] == {"deal": [deal_id], "contact": [contact_id], "company": [company_id]}
    assert second["written"] == {} and second["created"] == {}


def test_existing_contact_and_company_are_never_overwritten(hubspot, fake_hubspot):
    contact_id = fake_hubspot.add(
        "contacts",
        {"email": "ann@acme.example", "firstname": "Annabel", "lastname": "Original", "phone": "+1 555 0100"},
    )
    company_id = fake_hubspot.add("companies", {"domain": "acme.example", "name": "ACME (key account)"})
    before_contact = dict(fake_hubspot.contacts[contact_id])
    before_company = dict(fake_hubspot.companies[company_id])

    result = hubspot.create_referral_deal(referral_payload(first="Partner", last="Typed"), idempotency_key="k")

    assert fake_hubspot.contacts[contact_id] == before_contact
    assert fake_hubspot.companies[company_id] == before_company
    assert result["contact_id"] == contact_id and result["company_id"] == company_id
    assert result["contact_created"] is False and result["company_created"] is False
    assert set(result["written"]) == {"deal"}  # the only thing the hub wrote
    assert fake_hubspot.associated("deals", result["deal_id"], "contacts") == [contact_id]
    assert fake_hubspot.associated("deals", result["deal_id"], "companies") == [company_id]
    # no write of any kind went to the existing contact or company
    writes = [
        r
        for r in fake_hubspot.requests
        if r["method"] == "POST" and r["path"] in ("/crm/v3/objects/contacts", "/crm/v3/objects/companies")
    ]
    assert writes == []


def test_rerun_keeps_what_people_changed_on_the_deal(hubspot, fake_hubspot):
    first = hubspot.create_referral_deal(referral_payload(), idempotency_key="k")
    deal_id = first["deal_id"]
    fake_hubspot.deals[deal_id]["dealstage"] = "contractsent"  # sales moved it meanwhile
    fake_hubspot.deals[deal_id]["hubspot_owner_id"] = "4242"

    again = hubspot.create_referral_deal(referral_payload(), idempotency_key="k")

    assert again["deal_id"] == deal_id
    assert fake_hubspot.deals[deal_id]["dealstage"] == "contractsent"
    assert fake_hubspot.deals[deal_id]["hubspot_owner_id"] == "4242"
    assert again["written"] == {}


def test_failure_midway_then_rerun_completes_without_duplicates(hubspot, fake_hubspot):
    fake_hubspot.search_lag_s = 600
    fake_hubspot.fail_next(503, path="/crm/v3/objects/companies")  # the company create fails
    with pytest.raises(RetriableError):
        hubspot.create_referral_deal(referral_payload(), idempotency_key="k")
    assert len(fake_hubspot.deals) == 1 and len(fake_hubspot.contacts) == 1 and fake_hubspot.companies == {}

    result = hubspot.create_referral_deal(referral_payload(), idempotency_key="k")

    assert len(fake_hubspot.deals) == 1 and len(fake_hubspot.contacts) == 1 and len(fake_hubspot.companies) == 1
    assert result["contact_created"] is False and result["company_created"] is True
    assert fake_hubspot.associated("deals", result["deal_id"], "companies") == [result["company_id"]]
    assert len(fake_hubspot.association_writes) == 2


def test_referral_without_company_or_owner(hubspot, fake_hubspot):
    payload = referral_payload(email="dave@gmail.com", domain=None)
    payload["owner_id"] = None
    result = hubspot.create_referral_deal(payload, idempotency_key="k")
    assert result["company_id"] is None and fake_hubspot.companies == {}
    assert "hubspot_owner_id" not in fake_hubspot.deals[result["deal_id"]]


def test_bad_payload_is_fatal_and_sends_nothing(hubspot, fake_hubspot):
    sent = len(fake_hubspot.requests)
    with pytest.raises(Exception) as caught:
        hubspot.create_referral_deal({"contact": None, "deal": {"properties": {}}}, idempotency_key="k")
    assert caught.value.__class__.__name__ == "FatalError" and "tracking_id" in str(caught.value)
    assert len(fake_hubspot.requests) == sent


def test_update_deal_by_id_and_by_tracking_id(hubspot, fake_hubspot):
    deal_id = hubspot.create_referral_deal(referral_payload(), idempotency_key="k")["deal_id"]
    plan = load_mappings(MAPPINGS).for_source("hubspot", "deal")
    by_id = run_action(hubspot, "update_deal", {"deal_id": deal_id, **plan.outbound({"stage": "contractsent"})})
    assert fake_hubspot.deals[deal_id]["dealstage"] == "contractsent"
    assert by_id == {"deal_id": deal_id, "written": {"deal": {deal_id: {"dealstage": "contractsent"}}}}

    by_tracking = hubspot.update_deal(
        {"tracking_id": "R-7Q2K", "properties": {"partnerhub_partner_status": "won"}}, idempotency_key="k2"
    )
    assert by_tracking["deal_id"] == deal_id
    assert fake_hubspot.deals[deal_id]["partnerhub_partner_status"] == "won"


# -- find_conflicts ---------------------------------------------------------------------------


def test_find_conflicts_open_deal_by_email_customer_by_domain_nothing_for_free_mail(hubspot, fake_hubspot):
    bob = fake_hubspot.add("contacts", {"email": "bob@globex.example", "firstname": "Bob", "lastname": "Stone"})
    open_deal = fake_hubspot.add("deals", {"dealname": "Globex expansion", "dealstage": "qualifiedtobuy"})
    fake_hubspot.associate("deals", open_deal, "contacts", bob)
    initech = fake_hubspot.add(
        "companies", {"domain": "initech.example", "name": "Initech", "lifecyclestage": "customer"}
    )
    umbrella = fake_hubspot.add("companies", {"domain": "umbrella.example", "name": "Umbrella"})
    won = fake_hubspot.add("deals", {"dealname": "Umbrella 2025", "dealstage": "closedwon"})
    fake_hubspot.associate("deals", won, "companies", umbrella)
    lost = fake_hubspot.add("deals", {"dealname": "Umbrella old", "dealstage": "closedlost"})
    fake_hubspot.associate("deals", lost, "companies", umbrella)
    # someone else's free-mail contact and a company that (wrongly) carries gmail.com, with open deals
    carol = fake_hubspot.add("contacts", {"email": "carol@gmail.com"})
    gmail = fake_hubspot.add("companies", {"domain": "gmail.com", "name": "Gmail users"})
    for owner_type, owner in (("contacts", carol), ("companies", gmail)):
        deal = fake_hubspot.add("deals", {"dealname": "Carol's", "dealstage": "appointmentscheduled"})
        fake_hubspot.associate("deals", deal, owner_type, owner)

    assert hubspot.find_conflicts(email="Bob@Globex.example", domain=None) == [
        CrmMatch("open_deal", "deal", open_deal, "Globex expansion", "email")
    ]
    assert hubspot.find_conflicts(email=None, domain="initech.example") == [
        CrmMatch("customer", "company", initech, "Initech", "domain")
    ]
    assert hubspot.find_conflicts(email=None, domain="umbrella.example") == [
        CrmMatch("customer", "deal", won, "Umbrella 2025", "domain")
    ]
    assert hubspot.find_conflicts(email="dave@gmail.com", domain=None) == []
    assert hubspot.find_conflicts(email=None, domain=None) == []


def test_find_conflicts_known_contact_without_deals_and_values_sent_as_json(hubspot, fake_hubspot):
    odd = "o'brien\"+x@example.org"
    contact = fake_hubspot.add("contacts", {"email": odd, "firstname": "Pat"})
    assert hubspot.find_conflicts(email=odd, domain=None) == [CrmMatch("contact", "contact", contact, "Pat", "email")]
    [search] = fake_hubspot.requests_to("/contacts/search")
    assert search["body"]["filterGroups"] == [{"filters": [{"propertyName": "email", "operator": "EQ", "value": odd}]}]


# -- CRM setup --------------------------------------------------------------------------------


def test_ensure_setup_creates_properties_once_then_reports_them_present(fake_hubspot):
    connector = connector_for(fake_hubspot)
    assert "deals.partnerhub_tracking_id is missing" in connector.missing_setup()

    created = connector.ensure_setup()
    assert "deals.partnerhub_tracking_id: created (unique values)" in created
    assert "contacts.partnerhub_partner_id: created" in created
    tracking = fake_hubspot.property_defs["deals"]["partnerhub_tracking_id"]
    assert tracking.has_unique_value is True and tracking.group_name == "partnerhub"
    for obj, name in [
        ("deals", "partnerhub_partner_id"),
        ("deals", "partnerhub_source"),
        ("deals", "partnerhub_partner_status"),
        ("contacts", "partnerhub_tracking_id"),
        ("tasks", "partnerhub_task_key"),
    ]:
        assert name in fake_hubspot.property_defs[obj]
    creates = len(fake_hubspot.requests_to("/batch/create"))

    again = connector.ensure_setup()
    assert all(line.endswith(("present", "present (unique values)")) for line in again)
    assert "deals.partnerhub_tracking_id: present (unique values)" in again
    assert len(fake_hubspot.requests_to("/batch/create")) == creates
    assert (
        fake_hubspot.requests_to("/groups", "POST") and len(fake_hubspot.requests_to("/groups", "POST")) == 4
    )  # deals, contacts, companies, tasks
    assert connector.missing_setup() == []


def test_setup_refuses_a_tracking_property_without_unique_values(fake_hubspot):
    fake_hubspot.property_defs["deals"]["partnerhub_tracking_id"] = fake_hubspot._property(
        "partnerhub_tracking_id", "Tracking", "dealinformation", unique=False
    )
    connector = connector_for(fake_hubspot)
    assert any("without unique values" in line for line in connector.missing_setup())
    with pytest.raises(ConfigurationError, match="partnerhub_tracking_id exists without unique values"):
        connector.ensure_setup()


def test_crm_cli_setup_and_check(fake_hubspot, monkeypatch):
    from hub.cli.crm import app

    monkeypatch.setenv("PARTNERHUB_HUBSPOT__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("PARTNERHUB_HUBSPOT__API_BASE_URL", fake_hubspot.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("PARTNERHUB_REDIS_URL", raising=False)
    runner = CliRunner()

    check = runner.invoke(app, ["check"])
    assert check.exit_code == 1 and "missing: deals.partnerhub_tracking_id is missing" in check.output
    first = runner.invoke(app, ["setup"])
    assert first.exit_code == 0, first.output
    assert "deals.partnerhub_tracking_id: created (unique values)" in first.output
    second = runner.invoke(app, ["setup"])
    assert second.exit_code == 0 and "created" not in second.output and "present" in second.output
    assert runner.invoke(app, ["check"]).exit_code == 0

    fake_hubspot.fail_next(401)
    failed = runner.invoke(app, ["setup"])
    assert failed.exit_code == 1 and "401" in failed.output and TOKEN not in failed.output


def test_hubspot_is_a_crm_connector(fake_hubspot):
    connector = connector_for(fake_hubspot)
    assert isinstance(connector, CrmConnector)
    assert {"create_referral_deal", "update_deal"} <= HubSpotConnector.actions


# -- OAuth ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def oauth_connector(fake: FakeHubSpot, clock: Clock, **extra: Any) -> HubSpotConnector:
    settings = HubSpotSettings(
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        refresh_token=SecretStr(REFRESH_TOKEN),
        api_base_url=fake.url,
    )
    return HubSpotConnector(settings, clock=clock, **extra)


def bearer_of_last_api_call(fake: FakeHubSpot) -> str:
    api = [r for r in fake.requests if not r["path"].startswith("/oauth/")]
    headers = {k.lower(): v for k, v in api[-1]["headers"].items()}
    return headers["authorization"]


def test_oauth_token_refreshed_ahead_of_expiry(fake_hubspot):
    fake_hubspot.enable_oauth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, expires_in=1800)
    clock = Clock()
    connector = oauth_connector(fake_hubspot, clock)

    connector.read_many("deal", ["1"])
    assert fake_hubspot.issued_tokens == ["oauth-access-1"]
    [token_call] = fake_hubspot.requests_to("/oauth/v1/token")
    assert token_call["body"] == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert bearer_of_last_api_call(fake_hubspot) == "Bearer oauth-access-1"

    clock.now += 1400  # 23 minutes in: still well ahead of the refresh point
    connector.read_many("deal", ["1"])
    assert len(fake_hubspot.issued_tokens) == 1

    clock.now += 110  # 25 min 10 s: five minutes before the 30-minute expiry -> refreshed first
    connector.read_many("deal", ["1"])
    assert fake_hubspot.issued_tokens == ["oauth-access-1", "oauth-access-2"]
    assert bearer_of_last_api_call(fake_hubspot) == "Bearer oauth-access-2"


def test_oauth_401_is_not_a_refresh_signal(fake_hubspot):
    fake_hubspot.enable_oauth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    connector = oauth_connector(fake_hubspot, Clock())
    connector.read_many("deal", ["1"])
    fake_hubspot.fail_next(401)

    with pytest.raises(AuthenticationFailed) as caught:
        connector.read_many("deal", ["1"])
    connector.read_many("deal", ["1"])

    assert fake_hubspot.issued_tokens == ["oauth-access-1"]
    assert bearer_of_last_api_call(fake_hubspot) == "Bearer oauth-access-1"
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, "oauth-access-1"):
        assert secret not in str(caught.value)


def test_oauth_refresh_refused_is_an_auth_failure_without_secrets(fake_hubspot):
    fake_hubspot.enable_oauth(CLIENT_ID, CLIENT_SECRET, "another-refresh-token")
    connector = oauth_connector(fake_hubspot, Clock())
    with pytest.raises(AuthenticationFailed) as caught:
        connector.read_many("deal", ["1"])
    assert "400" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value) and REFRESH_TOKEN not in str(caught.value)
    assert fake_hubspot.requests_to("/crm/") == []  # no API call without a token


def test_oauth_token_shared_by_processes_through_redis(fake_hubspot, redis_url):
    fake_hubspot.enable_oauth(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    clock = Clock()
    workers = [oauth_connector(fake_hubspot, clock, redis=redis_lib.Redis.from_url(redis_url)) for _ in range(3)]
    for worker in workers:
        worker.read_many("deal", ["1"])
    assert fake_hubspot.issued_tokens == ["oauth-access-1"]

    clock.now += 1600  # past the refresh point: one of them refreshes, the others take its token
    for worker in workers:
        worker.read_many("deal", ["1"])
    assert fake_hubspot.issued_tokens == ["oauth-access-1", "oauth-access-2"]
    assert bearer_of_last_api_call(fake_hubspot) == "Bearer oauth-access-2"
    stored = redis_lib.Redis.from_url(redis_url).keys("partnerhub:oauth:hubspot:*")
    assert stored and all(REFRESH_TOKEN.encode() not in key for key in stored)


# -- webhooks: what changed, for echo suppression --------------------------------------------


def test_changed_fields_for_echo_suppression(fake_hubspot):
    connector = connector_for(fake_hubspot)
    change = {"eventType": "deal.propertyChange", "propertyName": "dealstage", "propertyValue": "closedwon"}
    assert connector.changed_fields(change) == {"dealstage": "closedwon"}
    assert connector.changed_fields({"subscriptionType": "contact.creation"}) == {}
    assert connector.changed_fields({"eventType": "deal.deletion"}) is None


# -- the fake itself holds requests to the SDK's models --------------------------------------


def test_fake_refuses_bodies_the_sdk_models_do_not_know(fake_hubspot):
    auth = {"authorization": f"Bearer {TOKEN}"}
    unknown = httpx.post(
        f"{fake_hubspot.url}/crm/v3/objects/contacts/search", headers=auth, json={"filterGroups": [], "bogus": 1}
    )
    assert unknown.status_code == 400 and "bogus" in unknown.json()["message"]
    nested = httpx.post(
        f"{fake_hubspot.url}/crm/v3/objects/contacts/search",
        headers=auth,
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@b.c", "extra": True}]}
            ]
        },
    )
    assert nested.status_code == 400 and "extra" in nested.json()["message"]
    bad_enum = httpx.post(
        f"{fake_hubspot.url}/crm/v3/objects/contacts/search",
        headers=auth,
        json={"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE"}]}]},
    )
    assert bad_enum.status_code == 400 and "operator" in bad_enum.json()["message"]
    unknown_property = httpx.post(
        f"{fake_hubspot.url}/crm/v3/objects/contacts", headers=auth, json={"properties": {"no_such_property": "x"}}
    )
    assert unknown_property.status_code == 400 and "PROPERTY_DOESNT_EXIST" in unknown_property.json()["message"]
