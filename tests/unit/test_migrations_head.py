"""Module and folder paths stored outside the code still point at real things after the move:
the Alembic history (one head, every file in it), Alembic's script location, the package data
and the console script named in pyproject.toml."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from alembic.script import ScriptDirectory

from hub.pipeline.store import MIGRATIONS_DIR, alembic_config

ROOT = Path(__file__).resolve().parents[2]


def test_alembic_history_has_exactly_one_head() -> None:
    # migrations land from parallel branches (0004sg -> 0004st -> 0004pg had to be chained by
    # hand): two heads would make `partnerhub db upgrade` refuse to run
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"the Alembic history has {len(heads)} heads: {sorted(heads)}; chain them"
    chain = [rev.revision for rev in script.walk_revisions()]  # from the head down to the base
    files = sorted((MIGRATIONS_DIR / "versions").glob("*.py"))
    assert len(chain) == len(files), "a migration file is not on the history from the head"
    assert script.get_revision(chain[-1]).down_revision is None


def test_alembic_script_location_is_the_migrations_folder() -> None:
    location = Path(alembic_config("sqlite://").get_main_option("script_location") or "")
    assert location == ROOT / "hub" / "migrations"
    assert (location / "env.py").is_file() and (location / "script.py.mako").is_file()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_data_patterns_match_files() -> None:
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        base = ROOT / package.replace(".", "/")
        found = {pattern: sorted(base.glob(pattern)) for pattern in patterns}
        # "migrations/*.ini" matches nothing today (the config is built in code) and is harmless
        required = [p for p in patterns if not p.endswith(".ini")]
        assert all(found[p] for p in required), {p: f for p, f in found.items() if not f}
        assert (base / "migrations" / "versions" / "0001_initial_schema.py") in found["migrations/versions/*.py"]


def test_console_script_and_top_level_modules_import() -> None:
    project = _pyproject()
    target = project["project"]["scripts"]["partnerhub"]
    module, _, attr = target.partition(":")
    assert target == "hub.cli:main"
    assert callable(getattr(importlib.import_module(module), attr))
    for name in project["tool"]["setuptools"]["py-modules"]:
        assert (ROOT / f"{name}.py").is_file()
