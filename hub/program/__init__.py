"""The partner-program domain: the program file and its rules, referrals and their submission,
deals and merges, attribution, commissions, the ledger, payouts, tiers, re-engagement, deal
registrations, payments and revenue facts, KPIs, privacy, partners, the timed rules (``tick``)
and the partner e-mail (``email/``). ``handlers`` builds the tables through which the pipeline
reaches this package; ``models`` holds its tables.

May import ``hub.pipeline``, ``hub.mapping`` and ``connectors``; no HTTP, CLI, Redis or
``hub.runtime``. Functions take a narrow ``context.ProgramContext`` (program file, CRM, clock and
e-mail settings, sessions), which the runtime's ``Hub`` satisfies.
"""
