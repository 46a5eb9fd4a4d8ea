"""What every CRM connector promises the engine, checked against its shipped mapping files."""

from __future__ import annotations

import pytest

from connectors import REGISTRY
from connectors.capabilities import CrmConnector
from hub.mapping import MappingStore
from hub.runtime.settings import REPO_ROOT

CRMS = ["hubspot", "salesforce", "pipedrive"]


@pytest.mark.parametrize("crm", CRMS)
def test_a_deal_gone_from_the_crm_maps_to_a_deleted_deal(crm: str) -> None:
    """A record the API no longer returns (deleted since the event named it) is applied as a
    deletion through the CRM's own deals mapping, not dead-lettered."""
    plan = MappingStore(REPO_ROOT / "mappings").current.for_source(crm, "deal")
    assert plan is not None
    change = plan.inbound(REGISTRY[crm].deleted_record("deal", "4242"), partial=True)
    assert change is not None
    assert str(change.key) == "4242" and change.fields["deleted"] is True


@pytest.mark.parametrize("crm", CRMS)
def test_every_crm_offers_what_the_partner_flow_and_the_program_call(crm: str) -> None:
    cls = REGISTRY[crm]
    for member in (
        "find_conflicts",
        "create_referral_deal",
        "update_deal",
        "create_task",
        "deal_parties",
        "ensure_setup",
        "missing_setup",
        "fetch_changes",
        "read_many",
        "upsert_many",
        "record_from_event",
        "deleted_record",
    ):
        assert callable(getattr(cls, member, None)), f"{crm} lacks {member}"
    assert {"create_referral_deal", "update_deal", "create_task"} <= set(cls.actions)
    assert "deal" in cls.poll_objects
    assert {name for name in dir(CrmConnector) if not name.startswith("_")} - set(dir(cls)) == set()
