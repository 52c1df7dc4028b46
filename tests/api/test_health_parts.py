"""``/readyz`` on the whole system against real servers, each part broken on purpose.

Mosquitto stopped, VictoriaMetrics stopped with the spool full, a PostgreSQL cluster of the test's own
stopped, the engine's lag over its limit: each answers 503 naming that part (and only it), and 200 once it
is back. ``/healthz`` answers 200 throughout: the process lives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from facwatch.app import System, build
from facwatch.config import PARTS, load_settings, load_site
from facwatch.model import Site
from gateway import codec, topics
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres import PG_BIN, _as_postgres
from tests.fixtures.servers import find_server, free_port, stop_process, wait_for_port
from tests.fixtures.victoria import Victoria
from tests.fixtures.waiting import wait_until
from tests.gateway.test_subscriber import Device

pytestmark = pytest.mark.integration

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")
ELEV_TOPIC = topics.telemetry(SITE.id, "elevator", ELEV.id)


def running_system(
    tmp_path: Path,
    broker_url: str,
    *,
    parts: Sequence[str] = PARTS,
    telemetry: dict[str, Any] | None = None,
    state_url: str | None = None,
    mqtt: dict[str, Any] | None = None,
    site: Site | None = None,
    **sections: Any,
) -> System:
    """The whole facwatch process in-process, on real servers, with its API on a free port."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        api={"port": free_port()},
        mqtt={"url": broker_url, "client_id": f"fw-health-{uuid.uuid4().hex[:8]}", **(mqtt or {})},
        telemetry=telemetry,
        state={"url": state_url} if state_url else None,
        **sections,
    )
    system = build(settings, site or load_site("demo", {"data_dir": str(tmp_path)}), parts=parts)
    system.start()
    return system


def ready(system: System) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{system.api_url}/readyz", timeout=10)
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


def wait_ready(
    system: System, expect_failing: set[str], timeout: float = 30, *, may_follow: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Wait until ``/readyz`` names exactly ``expect_failing`` (503), or answers 200 when it is empty.

    ``may_follow``: parts that may fail as a consequence (the engine falls behind while its database hangs)."""
    seen: dict[str, Any] = {}

    def check() -> bool:
        status, body = ready(system)
        seen.clear()
        seen.update(body)
        failing = set(body["failing"])
        return (
            status == (503 if expect_failing else 200)
            and expect_failing <= failing <= expect_failing | may_follow
        )

    try:
        wait_until(check, timeout, f"/readyz failing {sorted(expect_failing)}")
    except AssertionError as exc:  # say what it answered last, not what it answered before the wait
        raise AssertionError(f"{exc} (last answer {seen})") from None
    return seen


def alive(system: System) -> bool:
    return httpx.get(f"{system.api_url}/healthz", timeout=10).status_code == 200


def test_ready_with_every_part_then_503_naming_the_stopped_broker(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    system = running_system(tmp_path, mosquitto.url)
    try:
        body = wait_ready(system, set())
        assert body == {
            "ready": True,
            "failing": {},
            "checked": ["state_db", "broker", "telemetry", "engine", "clocks"],
        }
        mosquitto.stop()
        body = wait_ready(system, {"broker"})
        assert body["failing"]["broker"] == "not connected to the MQTT broker"
        assert alive(system)  # the process lives: /healthz stays 200
        mosquitto.start()  # same port: the gateway reconnects
        wait_ready(system, set())
    finally:
        system.stop()


def test_503_naming_the_engine_when_it_lags(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    system = running_system(tmp_path, mosquitto.url)
    try:
        wait_ready(system, set())
        system.engine_lag = lambda: 42.0
        body = wait_ready(system, {"engine"})
        assert "42.0 s behind" in body["failing"]["engine"]
        system.engine_lag = lambda: 0.2
        wait_ready(system, set())
    finally:
        system.stop()


def test_an_api_only_process_checks_only_the_state_database(tmp_path: Path) -> None:
    system = running_system(tmp_path, "mqtt://127.0.0.1:9", parts=["api"])  # no broker there, none needed
    try:
        body = wait_ready(system, set())
        assert body["checked"] == ["state_db"]
    finally:
        system.stop()


def test_503_naming_the_telemetry_store_when_it_is_down_and_the_spool_full(
    tmp_path: Path, mosquitto: MosquittoBroker, victoria: Victoria
) -> None:
    telemetry = {
        "backend": "influxdb",
        "influx_url": victoria.url,
        "influx_token": "t",
        "influx_org": "o",
        "influx_bucket": "b",
        "influx_retries": 0,
        "spool": {"max_mb": 0.002},  # about 2 KiB: a few dozen readings
    }
    system = running_system(
        tmp_path, mosquitto.url, telemetry=telemetry, mqtt={"batch_size": 1, "batch_ms": 1}
    )
    device = Device(mosquitto, v5=True)
    try:
        wait_ready(system, set())
        victoria.stop()
        t0 = int(time.time() * 1000)
        for i in range(60):  # no QoS wait: once the spool is full the gateway stops acknowledging
            device.client.publish(ELEV_TOPIC, codec.encode(t0 + i, {"floor": i % 20}, seq=i), qos=1)
        body = wait_ready(system, {"telemetry"})
        reason = body["failing"]["telemetry"]
        assert "spool full" in reason and "no answer from" in reason, reason
        assert alive(system)
        victoria.start()  # the spool replays, the gateway acknowledges the rest
        wait_ready(system, set())
    finally:
        device.close()
        system.stop()


class OwnPostgres:
    """A PostgreSQL 15 cluster of this test's own, so that it can be stopped and started on the same port."""

    def __init__(self) -> None:
        initdb = find_server("initdb", str(PG_BIN / "initdb"))
        self.bindir = Path(initdb).parent
        self.tmp = Path(tempfile.mkdtemp(prefix="facwatch-pg-health-"))
        if os.geteuid() == 0:  # the server runs as postgres (it refuses root)
            shutil.chown(self.tmp, "postgres", "postgres")
        self.tmp.chmod(0o700)
        self.data = self.tmp / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            _as_postgres([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync"]),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        argv = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        argv += ["-h", "127.0.0.1", "-k", str(self.tmp), "-c", "fsync=off"]
        self.proc = subprocess.Popen(
            _as_postgres(argv), stdout=subprocess.DEVNULL, stderr=(self.tmp / "log").open("ab")
        )
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        """Fast shutdown (clients cut off), as an outage would; a smart one would wait for the clients."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            pg_ctl = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"]
            subprocess.run(_as_postgres(pg_ctl), capture_output=True, timeout=30)
        stop_process(proc, timeout=20)

    def _pids(self) -> list[int]:
        """The postmaster (from its pid file) and its children: every process of this cluster."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: connections hang instead of failing (a hung server)."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.start()
    yield server
    server.remove()


def test_503_naming_the_state_database_when_postgresql_stops(
    tmp_path: Path, mosquitto: MosquittoBroker, own_postgres: OwnPostgres
) -> None:
    def up() -> bool:
        try:
            psycopg_url = own_postgres.url.replace("+psycopg", "")
            subprocess.run(
                [str(own_postgres.bindir / "pg_isready"), "-d", psycopg_url], check=True, capture_output=True
            )
        except subprocess.CalledProcessError:
            return False
        return True

    wait_until(up, 30, "PostgreSQL accepting connections")
    system = running_system(tmp_path, mosquitto.url, state_url=own_postgres.url)
    try:
        wait_ready(system, set())
        own_postgres.freeze()  # hung, not down: the probe must not hang the request
        try:
            started = time.monotonic()
            body = wait_ready(system, {"state_db"}, may_follow=frozenset({"engine"}))
            assert time.monotonic() - started < 10
            assert body["failing"]["state_db"] == "no answer within 2 s"
        finally:
            own_postgres.thaw()
        wait_ready(system, set())
        own_postgres.stop()
        body = wait_ready(system, {"state_db"}, may_follow=frozenset({"engine"}))
        assert body["failing"]["state_db"].startswith("state database unreachable: OperationalError")
        assert alive(system)
        own_postgres.start()
        wait_until(up, 30, "PostgreSQL accepting connections again")
        wait_ready(system, set())
    finally:
        system.stop()
