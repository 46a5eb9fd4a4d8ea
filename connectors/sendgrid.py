"""SendGrid: the objects and fields mapping files may name.

Only the declaration for now; the connector class (signed Event Webhook, Inbound Parse, mail send)
arrives with its own issue and will expose these as its ``objects``.

Shapes (``shared/PROVIDERS.md`` §4.1 and SendGrid's Event Webhook and Inbound Parse reference):

* an Event Webhook POST is a JSON array of flat events; ``timestamp`` is Unix seconds,
  ``sg_event_id`` is unique per event, ``custom_args`` given at send time are merged in as
  top-level keys (the hub sends ``notification_id``, ``partner_id`` and ``tracking_id``);
* an Inbound Parse POST is multipart form data, one field per part; ``envelope`` is JSON text
  (``{"to": [...], "from": "..."}``), ``headers`` the raw header block, ``attachments`` a count.
"""

from __future__ import annotations

from connectors.base import ObjectSpec

#: custom args the hub attaches to every e-mail it sends (come back as top-level event keys)
CUSTOM_ARGS: dict[str, str] = {
    "notification_id": "string",
    "partner_id": "string",
    "tracking_id": "string",
}

OBJECTS: dict[str, ObjectSpec] = {
    "event": ObjectSpec(
        name="event",
        fields={
            "email": "string",
            "timestamp": "datetime",  # Unix seconds
            "event": "enum",
            "smtp-id": "string",
            "sg_event_id": "id",
            "sg_message_id": "id",
            "reason": "string",
            "status": "string",
            "response": "string",
            "attempt": "string",
            "type": "enum",  # bounce | blocked (on bounce events)
            "bounce_classification": "string",
            "url": "string",
            "useragent": "string",
            "ip": "string",
            "tls": "number",
            "cert_err": "number",
            "asm_group_id": "number",
            "category": "list",  # a string or a list of strings
            "marketing_campaign_id": "id",
            "pool": "object",
            **CUSTOM_ARGS,
        },
        key_field="sg_event_id",
        version_field="timestamp",
    ),
    "inbound_parse": ObjectSpec(
        name="inbound_parse",
        fields={
            "from": "string",
            "to": "string",
            "cc": "string",
            "subject": "string",
            "text": "string",
            "html": "string",
            "headers": "string",
            "envelope": "string",  # JSON text
            "SPF": "string",
            "dkim": "string",
            "sender_ip": "string",
            "spam_score": "string",
            "spam_report": "string",
            "charsets": "string",
            "attachments": "number",  # how many attachment parts follow
            "attachment-info": "string",
        },
        key_field="",  # no natural key: each delivery is keyed by a digest of its content
        version_field=None,
    ),
}
