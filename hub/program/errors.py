"""The partner program's refusals, one class per meaning, in the hub's error tree.

A domain function raises one of these when a person (an admin, a partner, an operator at the
CLI) asks for something the program cannot do; the message is written for that person and is
shown as it is. The entry layers each map the classes in one table: ``hub.api.errors`` to HTTP
status codes, ``hub.cli.errors`` to exit codes. Nothing here knows about HTTP or the CLI.
"""

from __future__ import annotations

from connectors.errors import HubError


class DomainError(HubError):
    """A request the partner program refuses; nothing was changed."""

    kind = "domain"


class NotFound(DomainError):
    """The record the request names does not exist (or is not the asker's to see)."""

    kind = "not_found"


class InvalidState(DomainError):
    """The record exists, but its state does not allow the change (a payout already paid, a
    registration already decided), or the change itself is not one the record can take."""

    kind = "invalid_state"


class HeldForReview(InvalidState):
    """A payout cannot be approved while it holds a commission a fraud signal held: a person
    releases the hold first (or rejects the payout)."""

    kind = "held_for_review"


class FourEyes(InvalidState):
    """The person who made a manual ledger change inside a payout cannot also approve it."""

    kind = "four_eyes"


class IdempotencyConflict(DomainError):
    """An Idempotency-Key was used before with a different request body."""

    kind = "idempotency_conflict"


class InvalidInput(DomainError):
    """A value the request gives cannot be used (a malformed provider account id)."""

    kind = "invalid_input"


class ConditionUnmet(DomainError):
    """The partner does not meet a condition the program file sets for this benefit (deal
    registration, a portal feature); the message names each unmet part."""

    kind = "condition_unmet"


class Ineligible(InvalidInput):
    """An application the program's eligibility conditions refuse; the message says which."""

    kind = "ineligible"


__all__ = [
    "ConditionUnmet",
    "DomainError",
    "FourEyes",
    "HeldForReview",
    "IdempotencyConflict",
    "Ineligible",
    "InvalidInput",
    "InvalidState",
    "NotFound",
]
