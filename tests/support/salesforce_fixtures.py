"""Fixtures for Salesforce tests: the TLS fake Salesforce (its test CA written under the test's
tmp dir) and a copy of the mapping folder whose program starts new deals in a Salesforce stage.
Loaded for every test by ``tests/conftest.py`` (``pytest_plugins``); helpers are in
``tests.support.salesforce_hub``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_salesforce import FakeSalesforce

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_salesforce(tmp_path: Path) -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce().start(ca_dir=tmp_path)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def salesforce_mappings(tmp_path: Path) -> Path:
    """A copy of the shipped mapping files and program (new Salesforce deals start at 'Prospecting')."""
    target = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", target)
    return target
