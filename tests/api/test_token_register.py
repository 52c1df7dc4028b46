"""``TokenStore.register`` is "insert if missing", atomic on both databases: processes that start together
with the same ``api.admin_token`` store it once, every one of them gets the same token id, and none fails.

The race is made on purpose: another process's start has inserted the token and not yet committed when
ours registers it. On PostgreSQL the test waits until ours is seen waiting on that insert's lock, then lets
the other commit (a read-then-insert would fail here with a unique violation).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text

from api.auth import TokenStore, hash_token
from api.db import api_tokens
from tests.fixtures.postgres import state_engine
from tests.fixtures.waiting import wait_until

ADMIN = "admin-token-from-the-settings-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def _waiting_on_a_lock(engine: Engine) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one()) > 0


def test_two_starts_with_one_admin_token_store_it_once(engine: Engine) -> None:
    answers: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:  # what our process's start does with the setting
        try:
            answers.append(TokenStore(engine, cache_s=0).register("admin (settings)", ["admin"], ADMIN))
        except BaseException as exc:  # reported below: a start must not fail
            errors.append(exc)

    other = engine.connect()  # the other process's start, caught between its insert and its commit
    other_tx = other.begin()
    other.execute(
        insert(api_tokens).values(
            id="other-process-token-id",
            name="admin (settings)",
            token_hash=hash_token(ADMIN),
            scopes="admin",
            created_at=datetime.now(UTC),
        )
    )
    thread = threading.Thread(target=start, daemon=True)
    try:
        thread.start()
        if engine.dialect.name == "postgresql":
            wait_until(lambda: _waiting_on_a_lock(engine), 10, "our start waiting on the other's insert")
        other_tx.commit()
    finally:
        other.close()
    thread.join(30)
    assert errors == [] and answers == ["other-process-token-id"]  # the same token, no failed start
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_tokens)).scalar_one() == 1
    principal = TokenStore(engine, cache_s=0).verify(ADMIN)
    assert principal is not None and principal.id == "other-process-token-id"


def test_a_token_registered_again_keeps_its_id(engine: Engine) -> None:
    store = TokenStore(engine, cache_s=0)
    first = store.register("ops", ["admin"], ADMIN)
    assert store.register("ops", ["admin"], ADMIN) == first
    assert store.create("desk", ["viewer"]) != first  # a new token is a new row
