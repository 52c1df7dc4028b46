"""Migrations 0002 and 0005 create (and drop) the API's tables exactly as ``api/db.py`` declares them."""

from __future__ import annotations

from importlib import resources

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, inspect

from api.db import api_tokens, idempotency_keys, stream_tickets, webhook_deliveries, webhooks
from facwatch.state import migrate


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facwatch").joinpath("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@pytest.mark.parametrize(
    "table", [api_tokens, idempotency_keys, webhooks, webhook_deliveries, stream_tickets], ids=str
)
def test_migration_matches_the_table_definition(state_engine: Engine, table: Table) -> None:
    columns = {c["name"]: c for c in inspect(state_engine).get_columns(table.name)}
    assert set(columns) == {c.name for c in table.columns}
    for column in table.columns:
        assert bool(columns[column.name]["nullable"]) == bool(column.nullable), column.name
    indexes = {i["name"] for i in inspect(state_engine).get_indexes(table.name)}
    assert indexes >= {str(i.name) for i in table.indexes}


def test_migration_downgrades_and_upgrades_again(state_engine: Engine) -> None:
    _downgrade(state_engine, "0004")
    assert "webhooks" not in inspect(state_engine).get_table_names()
    assert "api_tokens" in inspect(state_engine).get_table_names()
    _downgrade(state_engine, "0001")
    assert "api_tokens" not in inspect(state_engine).get_table_names()
    migrate(state_engine)
    migrate(state_engine)  # idempotent
    assert {"api_tokens", "idempotency_keys", "webhooks", "webhook_deliveries"} <= set(
        inspect(state_engine).get_table_names()
    )
