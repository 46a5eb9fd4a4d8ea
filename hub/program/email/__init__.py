"""Partner e-mail: owing and recording notifications (``notify``), templates and their filters,
the provider's delivery events (``events``), inbound mail from partners (``inbound``,
``introductions``), a partner's unsubscribe choices (``preferences``) and alert e-mails to the admin
(``alerts``). Part of the program layer: the same imports as ``hub.program``."""
