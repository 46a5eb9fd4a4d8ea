from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.servers import REPO

MAPPINGS = REPO / "mappings"


@pytest.fixture
def write_mapping(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` (dedented) as ``<tmp>/mappings/<name>`` and return its path."""

    def write(text: str, name: str = "hubspot/deals.yaml") -> Path:
        path = tmp_path / "mappings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
