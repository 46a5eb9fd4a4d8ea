"""The one table from the program's refusals (``hub.program.errors``) to CLI exit codes.

Every command that calls the domain runs it inside ``domain_errors()``: a refusal becomes one
line on stderr, ``error: <message>``, and the exit code listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from hub.program.access import AccessError
from hub.program.errors import (
    ConditionUnmet,
    DomainError,
    FourEyes,
    HeldForReview,
    IdempotencyConflict,
    Ineligible,
    InvalidInput,
    InvalidState,
    NotFound,
)

#: domain error class -> exit code; a subclass takes the code of its nearest listed ancestor
EXIT_CODES: dict[type[DomainError], int] = {
    FourEyes: 3,  # the approver made a manual ledger change in the payout
    HeldForReview: 4,  # the payout holds a commission held for review
    NotFound: 1,
    InvalidState: 1,
    IdempotencyConflict: 1,
    InvalidInput: 1,
    Ineligible: 1,
    AccessError: 1,  # a request about users or operators that cannot be done
    ConditionUnmet: 1,
    DomainError: 1,
}


def exit_code_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a domain error raised in the block into ``error: message`` on stderr and its exit code."""
    try:
        yield
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code_for(exc)) from None
