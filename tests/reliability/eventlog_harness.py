"""Pieces of the event-log tests that run facwatch as subprocesses on one PostgreSQL: the processes, a
stuck elevator, an event-stream reader and a webhook receiver that keeps raw bytes and headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway import codec, topics
from tests.fixtures.facwatch_process import FacwatchProcess
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

ADMIN = "event-log-admin-token-0123456789"
SITE = "lakeside"
MOVING = {
    "floor": 5.0,
    "in_door_zone": 0.0,
    "door_open": 0.0,
    "speed_mps": 1.6,
    "motor_current_a": 30.0,
    "vibration_rms_g": 0.05,
    "load_kg": 150.0,
    "alarm_button": 0.0,
    "running": 1.0,
}
STUCK = {**MOVING, "speed_mps": 0.0, "running": 0.0, "motor_current_a": 0.5}


class Facwatch(FacwatchProcess):
    """``facwatch run --only PARTS`` of this worktree's code on the given state database."""

    def __init__(self, workdir: Path, broker_url: str, state_url: str, parts: str, api_port: int = 0) -> None:
        self.workdir, self.parts, self.api_port = workdir, parts, api_port
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "facwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nsite = "demo"\nlog_format = "json"\nlog_level = "info"\n'
            f'[mqtt]\nurl = "{broker_url}"\nclient_id = "facwatch-{workdir.name}"\n'
            f'[state]\nurl = "{state_url}"\n'
            f'[api]\nport = {api_port}\nadmin_token = "{ADMIN}"\nwebhook_allow_http = true\n'
            'webhook_allow_hosts = ["127.0.0.1"]\n'
            "[sla]\nresolve_hold_s = 5\n",
            encoding="utf-8",
        )
        super().__init__(self.config, workdir / "facwatch.log", parts)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


class Elevator:
    """One elevator of ``site`` (the demo's by default) publishing once every ``every_s`` at QoS 1; ``stuck``
    decides what it reports."""

    def __init__(
        self, port: int, asset: str = "b1-elev-1", every_s: float = 0.5, *, site: str = SITE
    ) -> None:
        self.site, self.asset, self.every_s, self.stuck = site, asset, every_s, False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{site}-{asset}", protocol=mqtt.MQTTv311
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(self.every_s):
            seq += 1
            values = STUCK if self.stuck else MOVING
            payload = codec.encode(int(time.time() * 1000), dict(values), seq=seq)
            self.client.publish(topics.telemetry(self.site, "elevator", self.asset), payload, qos=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


@dataclass(frozen=True, slots=True)
class Received:
    id: int
    type: str
    data: dict[str, Any]
    at: float


class EventStream:
    """Reads ``GET /api/v1/events`` as ``token`` (the admin's by default) in a thread; ``last_event_id``
    resumes (what the log holds after it comes first)."""

    def __init__(self, api: str, last_event_id: int | None = None, *, token: str = ADMIN) -> None:
        self.events: list[Received] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._run, args=(api, headers), daemon=True)
        self._thread.start()
        wait_until(self.connected.is_set, 10, "the event stream connected")

    def _run(self, api: str, headers: dict[str, str]) -> None:
        try:
            self._read(api, headers)
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def _read(self, api: str, headers: dict[str, str]) -> None:
        fields: dict[str, str] = {}
        with self._client.stream("GET", f"{api}/api/v1/events", headers=headers) as response:
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(": connected"):
                    self.connected.set()
                elif line == "":
                    if "id" in fields and "data" in fields:
                        data = orjson.loads(fields["data"])
                        event = Received(int(fields["id"]), fields.get("event", ""), data, time.monotonic())
                        self.events.append(event)
                    fields = {}
                elif ":" in line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.lstrip()

    def saw(self, type_: str, ident: str) -> bool:
        """Whether an event of this type about the object ``ident`` (its data's ``id``) arrived."""
        return any(e.type == type_ and e.data.get("id") == ident for e in list(self.events))

    def sites(self) -> set[str]:
        """The sites named by the events received (an event of a site names it in its data)."""
        return {str(e.data["site"]) for e in list(self.events) if "site" in e.data}

    def close(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(5)


@dataclass
class HookReceiver:
    url: str
    posts: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)


def hook_receiver() -> Iterator[HookReceiver]:
    port = free_port()
    receiver = HookReceiver(url=f"http://127.0.0.1:{port}/hooks")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.posts.append((headers, body, time.monotonic()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)
