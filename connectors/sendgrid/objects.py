"""The SendGrid objects mapping files may name, and their fields.

* ``event``: one Event Webhook event (``shared/PROVIDERS.md`` §4.1): a flat JSON object;
  ``timestamp`` is Unix seconds, ``sg_event_id`` is unique per event, and the ``custom_args``
  given at send time come back merged in as top-level keys (the hub sends ``notification_id``,
  ``partner_id`` and, for referral mail, ``tracking_id``).
* ``inbound_parse``: one e-mail received by Inbound Parse, one form field per key; ``envelope`` is
  JSON text (``{"to": [...], "from": "..."}``), ``headers`` the raw header block, ``attachments``
  a count (attachment contents are never stored).
"""

from __future__ import annotations

from connectors.values import ObjectSpec

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
            # added by the connector (see connectors/sendgrid/inbound.py):
            "message_id": "string",  # the Message-ID header, when there is one
            "delivered_to": "string",  # the envelope recipients (the hub's own addresses), comma-separated
            "route": "enum",  # referral | reply | other
            "reply_notification_id": "string",  # from <reply local part>+n<id>@…
        },
        key_field="",  # no natural key: each e-mail is keyed by its Message-ID or a digest
        version_field=None,
    ),
}
