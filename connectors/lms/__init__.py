"""A learning platform (LMS) calling the hub's signed webhook: training modules completed and
certifications granted (``docs/program.md``, "Learning platform webhook")."""

from connectors.lms.connector import LmsConnector
from connectors.lms.settings import LmsSettings
from connectors.lms.webhooks import EVENT_TYPES, compute_signature

__all__ = ["EVENT_TYPES", "LmsConnector", "LmsSettings", "compute_signature"]
