"""The Salesforce connector's pure parts, without a server: SOQL escaping, Outbound Message parsing
(1 to 100 notifications, no session id kept, no XML entities), what an event says changed, and the
JWT audience of a login host."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.salesforce import soql
from connectors.salesforce.outbound import SoapFault
from connectors.salesforce.outbound import parse as parse_outbound
from tests.support.fake_salesforce import (
    ORG_ID,
    outbound_message,
)


def test_every_value_in_soql_is_escaped():
    assert soql.quote("O'Brien") == r"'O\'Brien'"
    assert soql.quote("a\\' OR Name != '") == r"'a\\\' OR Name != \''"
    assert soql.quote('line\nbreak\t"q"') == r"'line\nbreak\t\"q\"'"
    assert soql.like_contains("50%_off") == r"'%50\%\_off%'"
    with pytest.raises(ValueError):
        soql.name("Name FROM Contact WHERE Id != null --")


def _message(n: int, **kw: Any) -> bytes:
    return outbound_message(
        [(f"04l5g{i:013d}", "Opportunity", {"Id": f"0065g{i:013d}", "StageName": "Prospecting"}) for i in range(n)],
        **kw,
    )


def test_outbound_messages_hold_1_to_100_notifications_and_never_keep_the_session_id():
    parsed = parse_outbound(_message(100, session_id="00D!made-up-session"), ORG_ID)
    assert len(parsed.changes) == 100 and parsed.reply.media_type == "text/xml"
    assert len({c.event_key for c in parsed.changes}) == 100
    assert all("made-up-session" not in repr(c.payload) for c in parsed.changes)
    assert parsed.changes[0].object_type == "deal" and parsed.changes[0].payload["record"]["StageName"] == "Prospecting"
    for bad in (_message(101), _message(0)):
        with pytest.raises(SoapFault, match="1 to 100"):
            parse_outbound(bad, ORG_ID)
    assert parse_outbound(_message(1, org_id=ORG_ID[:15]), ORG_ID).changes  # the 15-character form of the id


def test_outbound_messages_with_entities_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&b;'
        b"</soapenv:Body></soapenv:Envelope>"
    )
    with pytest.raises(SoapFault) as caught:
        parse_outbound(bomb, ORG_ID)
    assert caught.value.status == 400 and b"<faultstring>" in caught.value.body


def test_what_an_event_says_changed_for_echo_suppression():
    from connectors.salesforce.webhooks import changed_fields, record_from_event

    at = "2026-01-02T03:04:05.000+0000"
    created = {
        "source": "outbound_message",
        "record": {"Id": "006A", "Name": "X", "OwnerId": "005B", "CreatedDate": at, "SystemModstamp": at},
    }
    assert changed_fields(created) == {}  # a creation: an echo when the hub created the record
    edited = {"source": "outbound_message", "record": {"Id": "006A", "Name": "Y", "SystemModstamp": at}}
    assert changed_fields(edited) == {"Name": "Y"}
    assert changed_fields({"Id": "006A", "CreatedDate": at, "SystemModstamp": "2026-01-03T00:00:00.000+0000"}) is None
    deleted = {"source": "callout", "change": "deleted", "record": {"Id": "003A", "Email": "a@b.c"}}
    assert changed_fields(deleted) is None
    assert record_from_event(deleted) == ({"Id": "003A", "Email": "a@b.c", "IsDeleted": True}, True)
    assert record_from_event({"Id": "006A", "Name": "polled"}) == ({"Id": "006A", "Name": "polled"}, False)


def test_jwt_audience_follows_the_login_host():
    from connectors.salesforce.auth import audience

    assert audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert audience("https://test.salesforce.com") == "https://test.salesforce.com"
