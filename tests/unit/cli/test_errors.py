"""The CLI's one table: a domain error is one ``error: message`` line and its exit code."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import errors
from hub.program.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidInput,
    InvalidState,
    NotFound,
)


@pytest.mark.parametrize(
    "exc",
    [
        NotFound("no payout #999"),
        InvalidState("payout #3 is paid; nothing to settle"),
        IdempotencyConflict("used before"),
        InvalidInput("'x' is not a Stripe account id"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_domain_error_is_one_line_and_exit_1(exc: DomainError) -> None:
    app = typer.Typer()

    @app.command()
    def decide() -> None:
        with errors.domain_errors():
            raise exc

    result = CliRunner().invoke(app, [])
    assert result.exit_code == errors.exit_code_for(exc) == 1
    assert result.output.strip() == f"error: {exc}"


def _descendants(cls: type[DomainError]) -> set[type[DomainError]]:
    return {cls}.union(*(_descendants(sub) for sub in cls.__subclasses__()))


def test_every_domain_error_class_is_in_the_table() -> None:
    assert set(errors.EXIT_CODES) == _descendants(DomainError)


def test_the_money_rules_have_exit_codes_of_their_own() -> None:
    from hub.program.errors import FourEyes, HeldForReview

    assert errors.exit_code_for(FourEyes("four eyes: Ada made #3")) == 3
    assert errors.exit_code_for(HeldForReview("payout #1 holds commission #2")) == 4


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(ValueError), errors.domain_errors():
        raise ValueError("a bug")
