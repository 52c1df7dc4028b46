"""Never two processes judging one site (facwatch/sole_owner.py), with real ``facwatch run`` processes on real
PostgreSQL, Mosquitto and InfluxDB:

- a worker runs: a process started without ``--only worker`` (``gateway,alerts``, or every part) exits 1 at
  once, its message naming the worker and what to do; the worker runs on;
- a process without ``--only worker`` runs: a worker exits 1 at once, naming it; so does a second such process;
- the lock of a running process without ``--only worker`` is taken by a worker while its connection is gone
  (the database away): the process stops every site and exits 1, naming the worker; while the server
  still holds its former connection's lock, it waits and takes the lock again, its sites running on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from facwatch.sole_owner import NAMESPACE, PART_KEYS
from tests.cluster.conftest import ProcFactory
from tests.cluster.workers import Proc, write_sites
from tests.fixtures.facwatch_process import CHECKOUT
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


def second(proc: Proc) -> subprocess.CompletedProcess[str]:
    """Start ``proc`` as the second process, as an operator would: its exit code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    cmd = [sys.executable, "-m", "facwatch.cli", "run", "--config", str(proc.config), "--only", proc.parts]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=CHECKOUT, timeout=50)


@pytest.mark.parametrize("parts", ["gateway,alerts", "gateway,alerts,api"])
def test_a_process_without_leases_is_refused_beside_a_worker(
    tmp_path: Path, procs: ProcFactory, parts: str
) -> None:
    sites = write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    worker = procs("w1")
    worker.start(timeout=50)
    wait_until(lambda: worker.running_sites() == set(sites), 30, "the worker runs both sites")

    refused = second(procs("solo", parts=parts))

    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "facwatch: refusing to run the gateway of the sites: worker w1 (facwatch run --only worker)" in (
        refused.stderr
    )
    assert "Run it as --only worker (or --only api), or stop the workers first" in refused.stderr
    assert worker.alive and worker.running_sites() == set(sites)  # the worker was not disturbed


def test_a_worker_is_refused_beside_a_process_without_leases_and_so_is_a_second_one(
    tmp_path: Path, procs: ProcFactory
) -> None:
    sites = write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    solo = procs("solo", parts="gateway,alerts")
    solo.start(timeout=50)
    wait_until(lambda: solo.running_sites() == set(sites), 30, "the process runs both sites")

    refused = second(procs("w1"))

    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "refusing to run the gateway of the sites: solo (facwatch run without --only worker" in (
        refused.stderr
    )
    assert "Stop it and run every process as --only worker, or run this one with --only api" in refused.stderr
    again = second(procs("solo2", parts="gateway,alerts,api"))
    assert again.returncode == 1, again.stderr[-2000:]
    assert "Only one process may run the sites without leases: run several as --only worker" in again.stderr
    assert solo.alive and solo.running_sites() == set(sites)


@dataclass(frozen=True)
class Solo:
    """A running process without ``--only worker`` that holds the lock, and how to reach its database."""

    proc: Proc
    sites: set[str]
    url: str


@pytest.fixture
def solo(tmp_path: Path, procs: ProcFactory, cluster_db: Engine) -> Solo:
    sites = write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    proc = procs("solo", parts="gateway,alerts")
    proc.start(timeout=50)
    wait_until(lambda: proc.running_sites() == set(sites), 30, "the process runs both sites")
    url = cluster_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return Solo(proc, set(sites), url)


@contextlib.contextmanager
def lock_taken_when_dropped(solo: Solo, name: str, take: str) -> Iterator[None]:
    """The database drops the process's lock connection, and a session named ``name`` takes the lock
    (``take``, blocking) before the process can take it back; held until the block ends.

    The session asks for the lock first and waits in the lock's queue; only then is the process's connection
    ended, so the lock goes to the waiting session as it is freed (the process pings every second and would
    take a free lock again: asked for after the drop, a busy machine could let it win)."""
    with (
        psycopg.connect(solo.url, autocommit=True, application_name=name) as taker,
        psycopg.connect(solo.url, autocommit=True) as admin,
    ):
        row = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'facwatch alone solo' AND pid <> %s",
            (taker.info.backend_pid,),
        ).fetchone()
        assert row is not None
        holder = row[0]
        with ThreadPoolExecutor(1) as pool:
            taken = pool.submit(taker.execute, take, (NAMESPACE, PART_KEYS["gateway"]))

            def queued() -> bool:
                waiting = admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = %s",
                    (taker.info.backend_pid,),
                ).fetchone()
                return waiting is not None and waiting[0] > 0

            wait_until(queued, 20, "the session waiting for the lock")
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (holder,))
            try:
                taken.result(timeout=20)
            except TimeoutError:
                taker.cancel()  # not left blocking the pool's exit
                raise
        yield


def test_a_process_whose_lock_a_worker_took_meanwhile_stops_every_site(solo: Solo) -> None:
    # The database drops the process's lock connection (as a restart would), and a worker takes the lock
    # before the process can take it back.
    take = "SELECT pg_advisory_lock_shared(%s, %s)"
    with lock_taken_when_dropped(solo, "facwatch worker intruder", take):
        assert solo.proc.proc is not None
        assert solo.proc.proc.wait(30) == 1, solo.proc.tail()
    assert solo.proc.running_sites() == set()  # every site stopped
    assert "lost the lock on the state database while it was away" in solo.proc.tail()
    assert "worker intruder (facwatch run --only worker)" in solo.proc.tail()


def test_a_process_waits_for_its_own_former_connection_and_takes_the_lock_again(solo: Solo) -> None:
    # The process's lock connection breaks, while the server still has a session of the same name holding
    # the lock (as when the server has not yet noticed that the former connection is gone).
    with lock_taken_when_dropped(solo, "facwatch alone solo", "SELECT pg_advisory_lock(%s, %s)"):
        wait_until(lambda: solo.proc.count("former connection") > 0, 20, "the process waits for it")
    wait_until(lambda: solo.proc.count("sole_owner.lock_taken_again") > 0, 20, "the lock taken again")
    assert solo.proc.alive and solo.proc.running_sites() == solo.sites
