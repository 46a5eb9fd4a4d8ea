"""The data flow, in order: ``ingest`` (the webhook path's group commit) into the ``inbox``,
``queue`` (RQ pointers to rows), the ``engine`` (one inbox event -> record changes), the
``outbox`` and its ``effects``, ``work`` (the durable state machine every row goes through),
the ``reconciler`` (SQL, not Redis, says what is due), ``sync`` (polling), ``echo``, ``alerts``,
``metrics`` and the ``store`` (the one SQLAlchemy ``Base`` and the engine; ``models``: the work
tables).

May import ``hub.mapping`` and ``connectors`` only. It reaches the domain through the handler
tables it is given (``engine.DomainHandlers``, ``effects.FollowUp``) and the process through
the narrow ``context.PipelineContext``, never by importing ``hub.program`` or ``hub.runtime``.
"""
