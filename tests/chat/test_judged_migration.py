"""Migration 0018 (SQLite and PostgreSQL): the messages kept before it count as judged, except those of the
last minute, which the owner judges (as the previous catch-up would have after a restart); it matches the
table's definition, and goes down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, select, text

from alerts.engine.chat_db import chat_messages
from facwatch.state import migrate
from tests.alerts.helpers import DATABASES
from tests.fixtures.postgres import state_engine as state_engine_on


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine_on(request, tmp_path)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facwatch").joinpath("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_messages_kept_before_0018_count_as_judged_but_the_last_minutes(engine: Engine) -> None:
    downgrade(engine, "0017")
    assert "judged_at" not in {c["name"] for c in inspect(engine).get_columns("chat_messages")}
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for msg_id, received in (("old", now - timedelta(hours=2)), ("new", now - timedelta(seconds=5))):
            conn.execute(
                text(
                    "INSERT INTO chat_messages (site, msg_id, group_id, building, at, received_at, text, "
                    "complaint, keywords, mood, other_building) VALUES ('lakeside', :m, 'b1-owners', 'b1', "
                    ":r, :r, '电梯坏了', true, 1, 'neutral', false)"
                ),
                {"m": msg_id, "r": received},
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = {r.msg_id: r for r in conn.execute(select(chat_messages))}
    assert rows["old"].judged_at is not None  # judged (or missed) long ago: not judged again
    assert rows["new"].judged_at is None  # the owner judges it
    columns = {c["name"]: c for c in inspect(engine).get_columns("chat_messages")}
    assert set(columns) == {c.name for c in chat_messages.columns}
    assert columns["judged_at"]["nullable"]
    indexes = {i["name"] for i in inspect(engine).get_indexes("chat_messages")}
    assert indexes >= {str(i.name) for i in chat_messages.indexes}
