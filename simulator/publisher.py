"""The simulation over MQTT: each asset is a device with its own client, as in the field.

Each device connects with an ``offline`` last will on its status topic, publishes ``online`` (retained) on
every connect, and one telemetry message a simulated second (QoS 1); a press of the alarm button is also
sent as a discrete event. ``speed`` X makes simulated time run X times wall time: at X = 60 a simulated
hour takes a minute, with timestamps an hour apart.

Device faults of the scenario happen on the wire: under ``device_offline`` the device drops its connection
without a DISCONNECT, so the broker publishes its ``offline`` last will, and it sends nothing until the
fault ends and it reconnects (``online`` again); under ``malformed_burst`` each reading goes out with a burst
of payloads the gateway must dead-letter; under ``clock_skew`` the timestamps are the device's wrong ones. Runs in the calling thread until ``stop`` is set or
``duration_s`` simulated seconds have passed; on the way out each device says ``offline`` and disconnects.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from facwatch.errors import ConfigError
from facwatch.model import Asset, Site, ms_from_utc
from gateway import codec, topics
from simulator.engine import Simulation, Tick
from simulator.errors import BrokerUnreachable
from simulator.scenario import Scenario

log = structlog.get_logger("simulator.publisher")

QOS = 1
CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 5.0


@dataclass(slots=True)
class PublishReport:
    """What a run sent: telemetry messages, alarm events, retained status messages, simulated seconds."""

    telemetry: int = 0
    events: int = 0
    status: int = 0
    seconds: int = 0
    malformed: int = 0
    """Malformed payloads sent on purpose (``malformed_burst``)."""
    dropped: int = 0
    """Times a device left the network abruptly (``device_offline``: its last will fired)."""
    per_asset: dict[str, int] = field(default_factory=dict)
    start_ms: int = 0
    end_ms: int = 0


def parse_broker_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``tcp://``) → host and port; the port defaults to 1883."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise BrokerUnreachable(f"broker URL must look like mqtt://host:port, got {url!r}")
    return parts.hostname, parts.port or 1883


class Device:
    """One asset's MQTT client: will, retained presence, and the last message handed to paho."""

    def __init__(self, site: Site, asset: Asset, host: str, port: int, run_id: str) -> None:
        self.asset = asset
        self.telemetry_topic = topics.telemetry(site.id, asset.kind, asset.id)
        self.status_topic = topics.status(site.id, asset.kind, asset.id)
        self.event_topic = topics.event(site.id, asset.kind, asset.id)
        self.connected = threading.Event()
        self.dropped = False
        self.seq = 0
        self.alarm = False
        self.last: mqtt.MQTTMessageInfo | None = None
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"fwsim-{run_id}-{asset.id}"[:64],
            protocol=mqtt.MQTTv311,
        )
        self.client.will_set(self.status_topic, "offline", qos=QOS, retain=True)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect_async(host, port, keepalive=30)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _props: object,
    ) -> None:
        if reason.is_failure:
            log.warning("device connect refused", asset=self.asset.id, reason=str(reason))
            return
        client.publish(self.status_topic, "online", qos=QOS, retain=True)
        self.connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _props: object,
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("device disconnected", asset=self.asset.id, reason=str(reason))

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("publish refused", asset=self.asset.id, rc=int(info.rc))
        self.last = info

    def drop(self) -> None:
        """Leave the network without a DISCONNECT, as a device losing power does: the broker sees the
        connection die and publishes the last will (``offline``)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.connected.clear()
        self.dropped = True

    def drain(self, deadline: float) -> None:
        """Wait (until ``deadline``, monotonic) for the broker to acknowledge what was handed over."""
        if self.last is not None and self.connected.is_set():
            # RuntimeError: the connection went away meanwhile; nothing more to wait for.
            with contextlib.suppress(RuntimeError, ValueError):
                self.last.wait_for_publish(max(0.0, deadline - time.monotonic()))


def run_publisher(
    site: Site,
    scenario: Scenario,
    broker_url: str,
    *,
    speed: float = 1.0,
    duration_s: float | None = None,
    seed: int = 0,
    stop: threading.Event | None = None,
    start_ms: int | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    progress: Callable[[float], None] | None = None,
) -> PublishReport:
    """Publish the simulation of ``site`` under ``scenario`` to the broker until ``stop`` or ``duration_s``.

    ``start_ms`` is the simulated time of the first reading (default: now). Raises ``BrokerUnreachable``
    when the devices could not all connect within ``connect_timeout_s``. ``progress`` is told the simulated
    seconds done after each step.
    """
    if speed <= 0:
        raise ConfigError(f"simulator: --speed must be positive, got {speed}")
    stop = stop or threading.Event()
    host, port = parse_broker_url(broker_url)
    start = ms_from_utc(datetime.now(UTC)) if start_ms is None else start_ms
    sim = Simulation(site, scenario, seed=seed, start_ms=start)
    run_id = f"{seed}-{start % 100_000_000}"
    devices = {a.id: Device(site, a, host, port, run_id) for a in site.assets}
    report = PublishReport(start_ms=start, per_asset={a.id: 0 for a in site.assets})
    for device in devices.values():
        device.client.loop_start()
    try:
        await_connections(list(devices.values()), stop, broker_url, connect_timeout_s)
        report.status = len(devices)
        log.info("simulator publishing", site=site.id, devices=len(devices), speed=speed, broker=broker_url)
        where = (host, port, run_id)
        play(sim, devices, report, where, speed=speed, duration_s=duration_s, stop=stop, progress=progress)
    finally:
        shutdown(list(devices.values()), report)
    log.info("simulator stopped", telemetry=report.telemetry, events=report.events, seconds=report.seconds)
    return report


def play(
    sim: Simulation,
    devices: dict[str, Device],
    report: PublishReport,
    where: tuple[str, int, str],
    *,
    speed: float,
    duration_s: float | None,
    stop: threading.Event,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Step ``sim`` in real time (× ``speed``) and send each tick through the connected ``devices``, until
    ``stop`` or ``duration_s`` simulated seconds. A device that comes back from ``device_offline`` gets a
    fresh connection (``where``: broker host, port and the run's id), put in its place in ``devices``."""
    host, port, run_id = where
    wall0 = time.monotonic()
    while not stop.is_set():
        if duration_s is not None and sim.tick_index * sim.step_s >= duration_s:
            break
        delay = wall0 + sim.tick_index * sim.step_s / speed - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        for tick in sim.step():
            device = devices[tick.asset.id]
            if tick.wire == "offline":
                if not device.dropped:
                    device.drop()
                    report.dropped += 1
                continue
            if device.dropped:
                # Back on the network: a fresh connection, which says online again.
                back = devices[tick.asset.id] = Device(sim.site, tick.asset, host, port, run_id)
                back.seq, back.alarm = device.seq, device.alarm  # its counters survive the outage
                back.client.loop_start()
                device = back
                report.status += 1
            _send(device, tick, report)
        report.seconds += 1
        if progress is not None:
            progress(report.seconds)
    report.end_ms = sim.now_ms


def await_connections(devices: list[Device], stop: threading.Event, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for device in devices:
        while not device.connected.wait(0.05):
            if stop.is_set():
                return
            if time.monotonic() > deadline:
                raise BrokerUnreachable(
                    f"simulator: no connection to the MQTT broker at {url} after {CONNECT_TIMEOUT_S:.0f} s"
                )


MALFORMED: tuple[bytes, ...] = (
    b'{"ts": 17',
    b"\xff\xfe not even text",
    b'{"ts": "yesterday", "values": {"x": 1}}',
    b'{"ts": %d, "values": {"flow_m3h": "high"}}',
    b'{"ts": %d, "values": {"flow_m3h": NaN}}',
    b"[]",
)
"""A burst of what a confused device sends: truncated JSON, binary junk, bad timestamps, wrong types, NaN,
an empty batch. ``%d`` is the reading's timestamp."""


def _send(device: Device, tick: Tick, report: PublishReport) -> None:
    device.publish(device.telemetry_topic, codec.encode(tick.ts_ms, tick.values, seq=device.seq))
    device.seq += 1
    report.telemetry += 1
    if tick.wire == "malformed":
        for junk in MALFORMED:
            device.publish(device.telemetry_topic, junk % tick.ts_ms if b"%d" in junk else junk)
            report.malformed += 1
    report.per_asset[tick.asset.id] += 1
    alarm = bool(tick.values.get("alarm_button", False))
    if alarm and not device.alarm:
        device.publish(device.event_topic, orjson.dumps({"ts": tick.ts_ms, "type": "alarm_button"}))
        report.events += 1
    device.alarm = alarm


def shutdown(devices: list[Device], report: PublishReport) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    for device in devices:
        if device.connected.is_set():
            device.publish(device.status_topic, "offline", retain=True)
            report.status += 1
    for device in devices:
        if device.dropped:
            continue
        device.drain(deadline)
        device.client.disconnect()
        device.client.loop_stop()
