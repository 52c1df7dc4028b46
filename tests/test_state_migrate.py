"""Processes started together on an empty PostgreSQL database (API replicas and workers in compose) migrate
it one after another: each ``migrate`` takes an advisory lock first, so all succeed and the schema is at
the newest revision once. Without the lock (Alembic's upgrade as it was) the same start fails."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib import resources

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from facwatch.state import migrate, open_engine
from tests.fixtures.facwatch_process import CHECKOUT

pytestmark = pytest.mark.integration

PROCESSES = 4


_PROCESS = """
import sys
from importlib import resources
from alembic import command
from alembic.config import Config
from facwatch.state import migrate, open_engine

engine = open_engine(sys.argv[1])
with engine.connect():
    pass
print("ready", flush=True)
sys.stdin.readline()  # all start at once
if sys.argv[2] == "locked":
    migrate(engine)
else:  # migrate as it was before the lock: Alembic's upgrade in one transaction, nothing else
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facwatch").joinpath("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
"""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facwatch").joinpath("migrations")))
    return cfg


@pytest.fixture
def empty_url(postgres_url: str) -> Iterator[str]:
    """A new database with no schema at all, dropped afterwards."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _together(url: str, how: str) -> list[tuple[int, str]]:
    """``PROCESSES`` processes migrate ``url`` at the same moment (each connected and waiting first):
    (exit code, stderr) of each."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, url, how],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=CHECKOUT,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return [(proc.wait(60), proc.communicate()[1]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_processes_migrating_one_fresh_database_together_all_start_and_migrate_it_once(
    empty_url: str,
) -> None:
    outcome = _together(empty_url, "locked")
    assert [code for code, _ in outcome] == [0] * PROCESSES, [err[-500:] for _, err in outcome]
    head = ScriptDirectory.from_config(_config()).get_current_head()
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
            leases = conn.execute(text("SELECT count(*) FROM site_leases")).scalar_one()
            assert leases == 0  # the newest tables are there
    finally:
        engine.dispose()
    migrate(open_engine(empty_url))  # and a later start finds nothing to do


def test_without_the_lock_the_same_start_fails(empty_url: str) -> None:
    """Why the lock is there: Alembic alone lets the processes race through the same revisions."""
    outcome = _together(empty_url, "unlocked")
    failed = [err for code, err in outcome if code != 0]
    assert failed, "four unlocked upgrades of one empty database all succeeded"
    assert any("already exists" in err or "duplicate key" in err for err in failed), failed[0][-500:]
