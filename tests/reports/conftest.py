"""The simulated quarter on both state databases (SQLite and PostgreSQL), played once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from facwatch.state import migrate, open_engine
from tests.fixtures.postgres import fresh_database
from tests.reports.quarter import Quarter, play


def _engine(request: pytest.FixtureRequest, tmp: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = open_engine(f"sqlite:///{tmp / 'state.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    yield from fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def quarter(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Quarter]:
    tmp = tmp_path_factory.mktemp(f"quarter-{request.param}")
    for engine in _engine(request, tmp):
        played = play(engine, tmp / "telemetry.db")
        try:
            yield played
        finally:
            played.store.close()
