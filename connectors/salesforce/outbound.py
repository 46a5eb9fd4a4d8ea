"""Outbound Messages: the SOAP 1.1 notifications Salesforce posts from a workflow rule or flow,
parsed into changes, and the two answers Salesforce understands (``shared/PROVIDERS.md`` §5.1).

* ``soapenv:Body/notifications`` (namespace ``http://soap.sforce.com/2005/09/outbound``):
  ``OrganizationId``, ``ActionId``, ``SessionId`` (never stored: it is a live API session),
  ``EnterpriseUrl``, ``PartnerUrl``, then 1..100 ``Notification`` each with ``Id`` (the dedup
  key) and ``sObject`` (``xsi:type="sf:Opportunity"``, the selected fields in
  ``urn:sobject.enterprise.soap.sforce.com``; ``xsi:nil`` for empty ones).
* Success is HTTP 200 with ``notificationsResponse/Ack = true``; anything else is retried (up to
  24 h), so a refusal is a SOAP fault body and stores nothing. It goes with HTTP 400 (401 for
  an unknown endpoint or another org), not SOAP 1.1 §6.2's 500: Salesforce retries any answer
  but the ack alike, and the hub never answers bad input with a server error.
* Messages are unsigned: the endpoint URL carries a secret segment, the org id is checked on every
  message, and the records are re-read through the API before the hub acts on them.
"""

from __future__ import annotations

import hmac
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from connectors.errors import MalformedPayload, WebhookRejected
from connectors.salesforce.objects import HUB_OBJECTS
from connectors.salesforce.records import parse_time
from connectors.values import Change, Parsed, Reply

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
OM = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: "up to 100 notifications" per message
MAX_NOTIFICATIONS = 100

ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def fault_body(message: str, code: str = "soapenv:Client") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


class SoapFault(WebhookRejected):
    """A refused Outbound Message, answered with a SOAP fault body so Salesforce sees a failure:
    HTTP 400, or 401 when the endpoint or the org is not this hub's (``reason="signature"``)."""

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message, status=401 if reason == "signature" else 400)
        self.body = fault_body(message)
        self.media_type = "text/xml"
        self.reason = reason


def same_org(configured: str, sent: str) -> bool:
    """Org ids compare on their case-sensitive 15-character form (18 = 15 + a checksum)."""
    return len(sent) in (15, 18) and hmac.compare_digest(configured[:15].encode(), sent[:15].encode())


def parse(body: bytes, organization_id: str) -> Parsed:
    if b"<!DOCTYPE" in body[:2048].upper() or b"<!ENTITY" in body.upper():
        raise SoapFault("document type declarations are not accepted")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise SoapFault("the body is not well-formed XML") from None
    notifications = root.find(f"{{{SOAPENV}}}Body/{{{OM}}}notifications")
    if root.tag != f"{{{SOAPENV}}}Envelope" or notifications is None:
        raise SoapFault("not a SOAP 1.1 envelope holding an Outbound Message (notifications)")
    org = (notifications.findtext(f"{{{OM}}}OrganizationId") or "").strip()
    if not same_org(organization_id, org):
        raise SoapFault("OrganizationId is not this hub's organization", reason="signature")
    action = (notifications.findtext(f"{{{OM}}}ActionId") or "").strip()
    items = notifications.findall(f"{{{OM}}}Notification")
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise SoapFault(f"a message holds 1 to {MAX_NOTIFICATIONS} notifications, not {len(items)}")
    changes = [_change(index, item, action) for index, item in enumerate(items)]
    return Parsed(changes=tuple(changes), reply=Reply(status=200, body=ACK, media_type="text/xml"))


def _change(index: int, item: Any, action: str) -> Change:
    notification_id = (item.findtext(f"{{{OM}}}Id") or "").strip()
    sobj = item.find(f"{{{OM}}}sObject")
    if not notification_id or sobj is None:
        raise SoapFault(f"notification {index}: Id and sObject are required")
    sobject_type = (sobj.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
    record: dict[str, Any] = {}
    for field in sobj:
        if not isinstance(field.tag, str):
            continue
        name = etree.QName(field).localname
        nil = field.get(f"{{{XSI}}}nil") == "true"
        record[name] = None if nil else (field.text or "")
    record_id = str(record.get("Id") or "").strip()
    if not sobject_type or not record_id:
        raise SoapFault(f"notification {index}: the sObject needs xsi:type and Id")
    object_type = HUB_OBJECTS.get(sobject_type, sobject_type.lower())
    payload = {
        "source": "outbound_message",
        "notificationId": notification_id,
        "actionId": action,
        "sobject": sobject_type,
        "record": record,
    }
    try:
        return Change(
            event_key=f"om:{notification_id}",
            event_type=f"{object_type}.outbound_message",
            object_type=object_type,
            object_id=record_id,
            version_ms=parse_time(record.get("SystemModstamp")),
            payload=payload,
        )
    except MalformedPayload as exc:  # a value the inbox cannot hold: refused the SOAP way
        raise SoapFault(f"notification {index}: {exc}") from None
