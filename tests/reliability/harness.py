"""Real processes for the reliability tests: a persistent Mosquitto, a gateway process, a numbered publisher.

- ``PersistentMosquitto``: Mosquitto with persistence on (what deploy/mosquitto.conf does), restartable
  with SIGTERM on the same port and the same persistence file.
- ``GatewayProcess``: ``facwatch run --config F --only gateway`` in a subprocess; ``kill()`` is SIGKILL.
- ``Publisher``: a device-like paho client (QoS 1, persistent session) that publishes reading ``i`` as
  ``load_kg = i`` at ``ts = t0 + i``, so what landed can be counted and checked for order.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.config import load_site
from gateway import codec, topics
from tests.fixtures.facwatch_process import FacwatchProcess
from tests.fixtures.servers import find_server, free_port, wait_for_port
from tests.fixtures.waiting import wait_until

SITE = load_site("demo", {"data_dir": "unused"})
ELEV = next(a for a in SITE.assets if a.kind == "elevator")
TOPIC = topics.telemetry(SITE.id, "elevator", ELEV.id)
CHANNEL = "load_kg"


class PersistentMosquitto:
    def __init__(self, workdir: Path) -> None:
        self.binary = find_server("mosquitto", "/usr/sbin/mosquitto")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser root\n"
            f"persistence true\npersistence_location {workdir}/\nautosave_interval 1\n"
            "set_tcp_nodelay true\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n"
            "log_dest stderr\nlog_type error\n",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.workdir / "mosquitto.conf")], stderr=log)
        wait_for_port(self.port)

    def terminate(self) -> None:
        """SIGTERM: Mosquitto saves its persistence file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        self.proc = None


class GatewayProcess(FacwatchProcess):
    def __init__(self, workdir: Path, broker_url: str, telemetry: str = 'backend = "sqlite"\n') -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "facwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nsite = "demo"\nlog_format = "json"\nlog_level = "info"\n'
            f'[mqtt]\nurl = "{broker_url}"\nclient_id = "facwatch-reliability"\nmax_payload_bytes = 2048\n'
            f"[telemetry]\n{telemetry}",
            encoding="utf-8",
        )
        super().__init__(self.config, workdir / "gateway.log", "gateway", marker='"gateway.started"')

    def stop(self) -> None:
        """SIGTERM; the gateway may take up to 40 s to empty its queues into the store."""
        self.stop_within(40)

    def telemetry(self) -> list[tuple[int, float]]:
        """(ts, value) of every stored point of the test channel, in time order."""
        path = self.workdir / "data" / "telemetry.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            try:
                return conn.execute(
                    "SELECT p.ts_ms, p.value FROM points p JOIN series s ON s.id = p.series_id"
                    " WHERE s.asset = ? AND s.channel = ? ORDER BY p.ts_ms",
                    (ELEV.id, CHANNEL),
                ).fetchall()
            except sqlite3.OperationalError:
                return []

    def dead_letters(self) -> dict[str, int]:
        path = self.workdir / "data" / "deadletters.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            return dict(conn.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall())


class Publisher:
    """Publishes numbered readings at QoS 1 from a thread; survives broker restarts (paho re-sends)."""

    def __init__(self, broker_port: int, t0: int, client_id: str = "reliability-device") -> None:
        self.t0 = t0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)  # unbounded on the device side: the test's own bounded stream
        self.client.reconnect_delay_set(0.1, 1)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect("127.0.0.1", broker_port)
        self.client.loop_start()
        self.sent = 0
        self._infos: list[mqtt.MQTTMessageInfo] = []

    def send(
        self, start: int, count: int, per_s: float | None = None, extra: Callable[[int], None] | None = None
    ) -> None:
        for i in range(start, start + count):
            payload = codec.encode(self.t0 + i, {CHANNEL: float(i)}, seq=i)
            self._infos.append(self.client.publish(TOPIC, payload, qos=1))
            if extra is not None:
                extra(i)
            self.sent += 1
            if per_s:
                time.sleep(1 / per_s)

    def send_in_background(self, start: int, count: int, per_s: float) -> threading.Thread:
        thread = threading.Thread(target=self.send, args=(start, count, per_s), daemon=True)
        thread.start()
        return thread

    def publish_raw(self, topic: str, payload: bytes) -> None:
        self._infos.append(self.client.publish(topic, payload, qos=1))

    def wait_all_published(self, timeout: float) -> None:
        # Not ``is_published``: a message published while disconnected has rc NO_CONN, yet paho queues it
        # and sends it after the reconnect; its PUBACK is what counts.
        wait_until(lambda: all(info.mid in self.acked for info in self._infos), timeout, "all acknowledged")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
