"""Pieces of the multi-site tests: small site files made from the demo compound, and an elevator per site."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.config import demo_site_text
from gateway import codec, topics
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import MOVING, STUCK

ELEVATOR = "b1-elev-1"


def write_site(folder: Path, site_id: str) -> Path:
    """A site file: the demo compound under another id (its notifications land in ``folder``)."""
    text = demo_site_text().replace('id = "lakeside"', f'id = "{site_id}"', 1)
    text = text.replace("{data_dir}", str(folder))
    path = folder / f"{site_id}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class SiteElevator:
    """One site's elevator publishing every ``every_s`` at QoS 1; ``stuck`` decides what it reports."""

    def __init__(self, port: int, site: str, every_s: float = 0.5) -> None:
        self.site, self.every_s, self.stuck = site, every_s, False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{site}", protocol=mqtt.MQTTv311
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
            self.client.publish(topics.telemetry(self.site, "elevator", ELEVATOR), payload, qos=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


class TokenStream:
    """Reads ``GET /api/v1/events`` as one token, in a thread: every event's type and data, in order."""

    def __init__(self, api: str, token: str, last_event_id: int | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)  # what the log holds after it comes first
        self._thread = threading.Thread(target=self._run, args=(api, headers), daemon=True)
        self._thread.start()
        wait_until(self.connected.is_set, 10, "the event stream connected")

    def _run(self, api: str, headers: dict[str, str]) -> None:
        fields: dict[str, str] = {}
        try:
            with self._client.stream("GET", f"{api}/api/v1/events", headers=headers) as response:
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line == "":
                        if "data" in fields:
                            self.events.append((fields.get("event", ""), orjson.loads(fields["data"])))
                        fields = {}
                    elif ":" in line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.lstrip()
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def saw(self, type_: str, ident: str) -> bool:
        return any(t == type_ and data.get("id") == ident for t, data in list(self.events))

    def sites(self) -> set[str]:
        """The sites named by the events received (an event of a site names it in its data)."""
        return {str(data["site"]) for _, data in list(self.events) if "site" in data}

    def close(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(5)
