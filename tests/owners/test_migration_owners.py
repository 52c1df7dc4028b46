"""Migration 0015 creates (and drops) the report page's tables exactly as ``alerts/engine/owner_db.py``
declares them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, inspect

from alerts.engine.owner_db import owner_photos, owner_reports, points_ledger
from facwatch.state import migrate, open_engine
from tests.api.test_migration import _downgrade


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(made)
    yield made
    made.dispose()


@pytest.mark.parametrize("table", [owner_reports, owner_photos, points_ledger], ids=str)
def test_migration_0015_matches_the_table_definition(engine: Engine, table: Table) -> None:
    columns = {c["name"]: c for c in inspect(engine).get_columns(table.name)}
    assert set(columns) == {c.name for c in table.columns}
    for column in table.columns:
        assert bool(columns[column.name]["nullable"]) == bool(column.nullable), column.name
    indexes = {i["name"] for i in inspect(engine).get_indexes(table.name)}
    assert indexes >= {str(i.name) for i in table.indexes}


def test_migration_0015_downgrades_and_upgrades_again(engine: Engine) -> None:
    _downgrade(engine, "0010")
    assert "owner_reports" not in inspect(engine).get_table_names()
    migrate(engine)
    assert {"owner_reports", "owner_photos", "points_ledger"} <= set(inspect(engine).get_table_names())
