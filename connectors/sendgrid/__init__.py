"""SendGrid: mail send (``mail``), the signed Event Webhook (``events``), Inbound Parse
(``inbound``), webhook registration (``setup``), the API behind the shared HTTP pipeline
(``client``), tied together by ``SendGridConnector``."""

from connectors.sendgrid.connector import PAUSE_KEY, SendGridConnector
from connectors.sendgrid.mail import (
    MAIL_SEND_PATH,
    Address,
    OutboundEmail,
    RateLimit,
    SendOutcomeUnknown,
)
from connectors.sendgrid.objects import CUSTOM_ARGS, OBJECTS
from connectors.sendgrid.settings import SendGridSettings

__all__ = [
    "CUSTOM_ARGS",
    "MAIL_SEND_PATH",
    "OBJECTS",
    "PAUSE_KEY",
    "Address",
    "OutboundEmail",
    "RateLimit",
    "SendGridConnector",
    "SendGridSettings",
    "SendOutcomeUnknown",
]
