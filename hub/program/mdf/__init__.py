"""MDF / co-marketing funds (``docs/program.md``, "Partner lifecycle", "MDF").

``section``: the program file's ``mdf:`` section; ``budget``: the budget per partner, period and
currency and the ``mdf_budget_used`` KPI; ``workflow``: requests and claims, every one decided
by a person; ``proofs``: the proof-of-performance files, kept in the database.
"""
