"""Deal registrations without a server: company names normalized for matching (legal suffixes,
accents, "&" and "and")."""

from __future__ import annotations

import pytest

from hub.program.registrations import normalize_company


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("Acme, Inc.", "ACME Inc", True),
        ("Acme GmbH", "acme", True),
        ("Initech Ltd.", "Initech Limited", True),
        ("Société Générale S.A.", "Societe Generale SA", True),
        ("Johnson & Johnson", "Johnson and Johnson", True),
        ("Acme Corp", "Acme Labs", False),
        ("Inc", "Inc.", True),  # a name that is only a suffix is kept
        ("Umbrella Corporation", "Umbrella Group Holdings", True),
    ],
)
def test_normalized_company_names(a, b, same):
    assert (normalize_company(a) == normalize_company(b)) is same
