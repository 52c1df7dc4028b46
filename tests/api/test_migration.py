"""Migration 0002 creates (and drops) the API's tables exactly as ``api/db.py`` declares them."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from api.db import api_tokens
from facwatch.state import migrate


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facwatch").joinpath("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_migration_matches_the_table_definition(state_engine: Engine) -> None:
    columns = {c["name"]: c for c in inspect(state_engine).get_columns("api_tokens")}
    assert set(columns) == {c.name for c in api_tokens.columns}
    assert columns["revoked_at"]["nullable"] and not columns["token_hash"]["nullable"]


def test_migration_downgrades_and_upgrades_again(state_engine: Engine) -> None:
    _downgrade(state_engine, "0001")
    assert "api_tokens" not in inspect(state_engine).get_table_names()
    migrate(state_engine)
    migrate(state_engine)  # idempotent
    assert "api_tokens" in inspect(state_engine).get_table_names()
