"""Never two processes judging one site (facwatch/sole_owner.py), with real ``facwatch run`` processes on real
PostgreSQL, Mosquitto and InfluxDB:

- a worker runs: a process started without ``--only worker`` (``gateway,alerts``, or every part) exits 1 at
  once, its message naming the worker and what to do; the worker runs on;
- a process without ``--only worker`` runs: a worker exits 1 at once, naming it; so does a second such process;
- the lock of a running process without ``--only worker`` is taken by a worker while its connection is gone
  (the database away): the process stops every site and exits 1, naming the worker; while the server
  still holds its former connection's lock, it waits and takes the lock again, its sites running on."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_a_process_whose_lock_a_worker_took_meanwhile_stops_every_site(
    tmp_path: Path, procs: ProcFactory, cluster_db: Engine
) -> None:
    sites = write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    solo = procs("solo", parts="gateway,alerts")
    solo.start(timeout=50)
    wait_until(lambda: solo.running_sites() == set(sites), 30, "the process runs both sites")
    url = cluster_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True, application_name="facwatch worker intruder") as conn:
        # The database drops the process's lock connection (as a restart would), and a worker takes the
        # lock before the process can take it back.
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'facwatch alone solo'"
        ).fetchone()
        assert row is not None
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (row[0],))
        conn.execute("SELECT pg_advisory_lock_shared(%s, %s)", (NAMESPACE, PART_KEYS["gateway"]))

        assert solo.proc is not None
        assert solo.proc.wait(30) == 1, solo.tail()
    assert solo.running_sites() == set()  # every site stopped
    assert "lost the lock on the state database while it was away" in solo.tail()
    assert "worker intruder (facwatch run --only worker)" in solo.tail()


def test_a_process_waits_for_its_own_former_connection_and_takes_the_lock_again(
    tmp_path: Path, procs: ProcFactory, cluster_db: Engine
) -> None:
    sites = write_sites(tmp_path / "sites", 2, "json://127.0.0.1:9/")
    solo = procs("solo", parts="gateway,alerts")
    solo.start(timeout=50)
    wait_until(lambda: solo.running_sites() == set(sites), 30, "the process runs both sites")
    url = cluster_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    # The process's lock connection breaks, while the server still has a session of the same name holding
    # the lock (as when the server has not yet noticed that the former connection is gone).
    with psycopg.connect(url, autocommit=True, application_name="facwatch alone solo") as former:
        row = former.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'facwatch alone solo' "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
        assert row is not None
        former.execute("SELECT pg_terminate_backend(%s, 5000)", (row[0],))
        former.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, PART_KEYS["gateway"]))
        wait_until(lambda: solo.count("former connection") > 0, 20, "the process waits for it")
    wait_until(lambda: solo.count("sole_owner.lock_taken_again") > 0, 20, "the lock taken again")
    assert solo.alive and solo.running_sites() == set(sites)
