"""Each registered connector implements exactly the capabilities its provider supports, checked
by ``isinstance`` against the small protocols of ``connectors.capabilities``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from connectors import REGISTRY, build_connectors, capabilities
from connectors.capabilities import Connector, RunsOutboxActions
from hub.runtime.settings import load_settings

EVERY = {"Connector", "ReceivesWebhooks", "RunsOutboxActions"}
CRM = EVERY | {
    "CrmConnector",
    "CallsApi",
    "Polls",
    "ReadsInBatches",
    "WritesInBatches",
    "EventRecords",
    "DeletedRecords",
    "SharesRedis",
}
EXPECTED: dict[str, set[str]] = {
    "lms": EVERY,
    "hubspot": CRM | {"MergesRecords", "ReadsDealPartiesInBatches"},
    "salesforce": CRM | {"NamesPolledChanges"},
    "pipedrive": CRM | {"RegistersWebhooks", "ChecksWebhooks"},
    "sendgrid": EVERY | {"RegistersWebhooks", "SharesRedis"},
    "stripe": EVERY
    | {
        "CallsApi",
        "Polls",
        "NamesPolledChanges",
        "EventRecords",
        "PaymentEvents",
        "PayoutAccounts",
        "TransferLookup",
        "RegistersWebhooks",
    },
}
PROTOCOLS = {
    name: cls
    for name, cls in vars(capabilities).items()
    if inspect.isclass(cls) and getattr(cls, "_is_runtime_protocol", False)
}


@pytest.fixture(scope="module")
def built() -> Iterator[dict[str, Connector]]:
    made = build_connectors(load_settings())
    yield made
    for connector in made.values():
        connector.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_connector_has_exactly_its_capabilities(name: str, built: dict[str, Connector]) -> None:
    have = {p for p, cls in PROTOCOLS.items() if isinstance(built[name], cls)}
    assert have == EXPECTED[name]


def test_every_registered_connector_is_listed() -> None:
    assert set(REGISTRY) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_outbox_table_names_what_actions_declares(name: str, built: dict[str, Connector]) -> None:
    connector = built[name]
    assert isinstance(connector, RunsOutboxActions)
    table = connector.outbox_actions()
    assert set(table) == connector.actions
    assert all(callable(method) for method in table.values())


def test_no_connector_stubs_what_it_does_not_support() -> None:
    for cls in REGISTRY.values():
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
        assert "NotImplementedError" not in source
