"""The whole worker (gateway + alerts) in-process on real servers, and an elevator that can trap someone.

- ``Elevator``: a device-like paho client (QoS 1) that publishes one reading a second of ``b1-elev-1`` at
  the wall clock: parked at a floor, or stopped between floors with its doors shut and a load inside (what
  ``alerts/detection/rules.py`` ``entrapment_signal`` reads as an entrapment; it fires after 4 s).
- ``worker``: ``facwatch.app.build`` with the gateway and the alert engine, every person and owner notified
  on ``receiver``'s ``/people`` path, and the fallback person told directly on its ``/fallback`` path with
  apprise (what ``alerts.notify.direct.tell_directly`` does in production).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import apprise
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.engine.ports import AlertQuery
from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import Alert, AlertState, Site
from gateway import codec, topics
from tests.fixtures.receivers import HttpReceiver

ELEVATOR = "b1-elev-1"
ENTRAPMENT = "elevator.entrapment"
PARKED = {
    "floor": 3,
    "in_door_zone": True,
    "door_open": False,
    "speed_mps": 0.0,
    "running": False,
    "load_kg": 0,
}
TRAPPED = {
    "floor": 3,
    "in_door_zone": False,
    "door_open": False,
    "speed_mps": 0.0,
    "running": False,
    "load_kg": 240,
}


def site_for(receiver: HttpReceiver, data_dir: Path) -> Site:
    site = load_site("demo", variables={"data_dir": str(data_dir)})
    people = tuple(dataclasses.replace(p, notify=(receiver.url + "people",)) for p in site.people)
    owners = tuple(dataclasses.replace(o, notify=(receiver.url + "people",)) for o in site.owners)
    return dataclasses.replace(site, people=people, owners=owners)


def tell_fallback_via(receiver: HttpReceiver) -> Any:
    def tell(title: str, body: str) -> bool:
        sender = apprise.Apprise()
        sender.add(receiver.url + "fallback")
        return bool(sender.notify(body=body, title=title))

    return tell


def worker(
    tmp: Path, broker_url: str, receiver: HttpReceiver, state_url: str | None = None, **settings: Any
) -> System:
    config: dict[str, Any] = {"data_dir": tmp, "mqtt": {"url": broker_url, "client_id": f"fw-{tmp.name}"}}
    if state_url is not None:
        config["state"] = {"url": state_url}
    config.update(settings)
    system = build(
        load_settings(**config),
        site_for(receiver, tmp),
        parts=("gateway", "alerts"),
        tell_fallback=tell_fallback_via(receiver),
    )
    system.start()
    return system


class Elevator:
    """Publishes ``b1-elev-1``'s telemetry once a second, parked or trapped, until closed."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.connect(host, port)
        self.client.loop_start()
        self.topic = topics.telemetry("lakeside", "elevator", ELEVATOR)
        self.values: dict[str, Any] = dict(PARKED)
        self.trapped_since_ms: int | None = None
        self.ahead_ms = 0
        """How far the device's own clock runs ahead of the wall clock (its readings are dated so)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def trap(self) -> int:
        """From the next reading on, someone is trapped; returns the onset's event time (ms)."""
        self.trapped_since_ms = int(time.time() * 1000)
        self.values = dict(TRAPPED)
        return self.trapped_since_ms

    def send(self, ts_ms: int, values: dict[str, Any], retain: bool = False) -> None:
        self.client.publish(self.topic, codec.encode(ts_ms, values), qos=1, retain=retain).wait_for_publish(
            10
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self.send(int(time.time() * 1000) + self.ahead_ms, self.values)
            self._stop.wait(1.0)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()


def entrapments(system: System) -> list[Alert]:
    page = system.alerts.list_alerts(AlertQuery(asset=ELEVATOR, limit=100))
    return [a for a in page.items if a.kind == ENTRAPMENT]


def firing_red(system: System) -> Alert | None:
    try:
        found = entrapments(system)
    except Exception:  # the state database may still be coming back
        return None
    return next((a for a in found if a.state is AlertState.FIRING and a.level.value == "red"), None)


def posts(receiver: HttpReceiver, path: str) -> list[Any]:
    with receiver.lock:
        return [
            body
            for body, p in zip(receiver.received, receiver.paths, strict=True)
            if p.rstrip("/").endswith(path)
        ]
