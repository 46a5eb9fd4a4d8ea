"""The wiring of one process: settings (``settings``), logging (``logs``), the embedded Redis
(``embedded_redis``), the ``Hub`` that holds the database, Redis, the connectors, the mapping
files and the program file (``context``), the RQ job functions (``jobs``), the workers
(``workers``), the scheduler loop (``scheduler``) and the ``run`` supervisor (``runner``).

May import ``hub.program``, ``hub.pipeline``, ``hub.mapping`` and ``connectors``; only the entry
points (``hub.cli``, ``hub.api``, ``worker.py``, ``webhook_app.py``) import it. The layers below
get the ``Hub`` as their narrow context (``hub.pipeline.context``, ``hub.program.context``) and
the domain's handler tables (``hub.program.handlers``), wired here by the jobs.
"""
