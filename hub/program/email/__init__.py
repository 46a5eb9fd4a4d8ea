"""Partner e-mail: owing and recording notifications (``notify``), templates and their filters,
the provider's delivery events (``events``), inbound mail from partners (``inbound``,
``introductions``) and alert e-mails to the admin (``alerts``)."""
