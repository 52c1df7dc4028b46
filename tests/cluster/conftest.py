"""Fixtures of the tests that run worker and API processes: a fresh PostgreSQL database, an InfluxDB with the
``facwatch`` database, and a way to start processes that are all stopped when the test ends."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.cluster.workers import Proc
from tests.fixtures.influx import Influx
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import free_port


@pytest.fixture
def cluster_db(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def telemetry(influx: Influx) -> Influx:
    influx.query("CREATE DATABASE facwatch")
    return influx


ProcFactory = Callable[..., Proc]


@pytest.fixture
def procs(
    tmp_path: Path, mosquitto: MosquittoBroker, cluster_db: Engine, telemetry: Influx
) -> Iterator[ProcFactory]:
    """``procs("w1")`` a worker, ``procs("api1", parts="api")`` an API replica (not started yet); every
    process is stopped (SIGTERM, SIGKILL after 20 s) when the test ends."""
    made: list[Proc] = []
    sites_dir = tmp_path / "sites"

    def make(
        name: str, *, parts: str = "worker", lease_s: float = 15.0, state_url: str | None = None
    ) -> Proc:
        proc = Proc(
            tmp_path / name,
            parts=parts,
            name=name,
            sites_dir=sites_dir,
            broker_url=mosquitto.url,
            state_url=state_url or cluster_db.url.render_as_string(hide_password=False),
            influx_url=telemetry.url,
            lease_s=lease_s,
            api_port=free_port() if "api" in parts else 0,
        )
        made.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in made:
            if proc.proc is not None and proc.alive:
                proc.proc.send_signal(signal.SIGCONT)  # a stopped process must run to end
            proc.stop_within(20)
