"""Load generation for benchmarks: thousands of assets publishing over several processes, and an exact
account of what was sent, so that a receiver (the gateway, a store) can be checked against it.

API::

    from simulator.load import run_load, load_site
    report = run_load("mqtt://127.0.0.1:1883", assets=2000, rate=1.0, processes=2, batch=10, qos=1,
                      duration_s=30, site_id="load")
    report.readings            # readings sent in all (one reading = one timestamped set of channel values)
    report.per_asset["load-00017"]   # (first_seq, last_seq): the asset's readings carry seq first..last
    report.as_dict()           # JSON-ready, what ``facwatch simulate --load`` prints

- ``assets`` virtual assets ``load-00000``, ``load-00001``, ... cycle through the kinds elevator, pump,
  power and carry those kinds' standard channels with plausible values (``load_site`` builds the matching
  site, for a gateway that rejects unknown assets).
- ``rate``: readings per second per asset. ``batch`` K: each message is a JSON array of K readings of one
  asset (the contract's buffered batch; K = 1 sends plain objects), so every asset sends a message every
  K / rate seconds. Each reading has ``ts`` (epoch ms, wall clock, spaced 1 / rate apart) and ``seq``,
  counting from 0 per asset without gaps.
- ``processes`` P: the assets are split into P contiguous shares, each published by its own process with
  its own MQTT client (a site gateway concentrating many devices), at QoS ``qos`` (0 or 1).
- ``duration_s``: how long to send, in wall seconds. A process that falls behind its schedule does not skip
  readings; it sends them late, and the report's ``elapsed_s`` and ``readings_per_s`` say what it achieved.
  Before disconnecting, each process waits (up to ``drain_timeout_s``) for its last message to be
  acknowledged by the broker (QoS 1) or written to the socket (QoS 0); ``unacked`` counts what was not.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.model import Asset, AssetKind, Building, Site
from gateway import topics
from simulator.errors import BrokerUnreachable, LoadError
from simulator.publisher import parse_broker_url

KINDS = (AssetKind.ELEVATOR, AssetKind.PUMP, AssetKind.POWER)
CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0


@dataclass(slots=True)
class LoadReport:
    """What a load run sent, in all and per asset."""

    site_id: str
    assets: int
    rate: float
    processes: int
    batch: int
    qos: int
    duration_s: float
    messages: int = 0
    readings: int = 0
    unacked: int = 0
    elapsed_s: float = 0.0
    per_asset: dict[str, tuple[int, int]] = field(default_factory=dict)
    """asset id → (first seq, last seq) of the readings it sent; absent when it sent none."""

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "assets": self.assets,
            "rate": self.rate,
            "processes": self.processes,
            "batch": self.batch,
            "qos": self.qos,
            "duration_s": self.duration_s,
            "messages": self.messages,
            "readings": self.readings,
            "unacked": self.unacked,
            "elapsed_s": round(self.elapsed_s, 3),
            "readings_per_s": round(self.readings_per_s, 1),
            "per_asset": {k: list(v) for k, v in self.per_asset.items()},
        }


def asset_id(index: int) -> str:
    return f"load-{index:05d}"


def load_site(site_id: str, assets: int) -> Site:
    """The site the load run's assets belong to (one building), for a gateway that checks asset ids."""
    members = tuple(
        Asset(id=asset_id(i), kind=KINDS[i % 3], building="load", name=f"load asset {i}", rated={})
        for i in range(assets)
    )
    return Site(
        id=site_id, name="load test", timezone="UTC", buildings=(Building("load", "load"),), assets=members
    )


def values_for(kind: AssetKind, seq: int) -> dict[str, float | bool]:
    """Plausible readings that move a little from one seq to the next (inside every physical range)."""
    w = (seq % 60) / 60.0
    if kind is AssetKind.ELEVATOR:
        return {
            "floor": float(1 + seq % 12),
            "in_door_zone": True,
            "door_open": seq % 10 == 0,
            "speed_mps": 0.0,
            "motor_current_a": 0.0,
            "vibration_rms_g": round(0.002 + 0.001 * w, 4),
            "load_kg": 0.0,
            "alarm_button": False,
            "running": False,
            "inspection_mode": False,
            "limit_switch": False,
        }
    if kind is AssetKind.PUMP:
        return {
            "discharge_pressure_bar": round(6.0 + 0.2 * w, 2),
            "suction_pressure_bar": 1.5,
            "flow_m3h": round(15.0 + 3.0 * w, 1),
            "motor_current_a": round(16.0 + w, 1),
            "vibration_rms_mms": round(1.5 + 0.1 * w, 2),
            "bearing_temp_c": round(40.0 + w, 1),
            "running": True,
        }
    return {
        "voltage_l1_v": round(229.0 + w, 1),
        "voltage_l2_v": 230.1,
        "voltage_l3_v": 228.7,
        "current_l1_a": round(150.0 + 10 * w, 1),
        "current_l2_a": 148.2,
        "current_l3_a": 152.9,
        "frequency_hz": 50.0,
        "power_factor": 0.93,
        "transformer_temp_c": round(45.0 + w, 1),
    }


def run_load(
    broker_url: str,
    *,
    assets: int,
    rate: float,
    processes: int = 1,
    batch: int = 1,
    qos: int = 1,
    duration_s: float,
    site_id: str = "load",
    drain_timeout_s: float = DRAIN_TIMEOUT_S,
) -> LoadReport:
    """Publish ``assets`` × ``rate`` readings a second for ``duration_s`` over ``processes`` processes."""
    if assets < 1 or rate <= 0 or processes < 1 or batch < 1 or duration_s <= 0 or qos not in (0, 1):
        raise LoadError(
            f"load: need assets, processes, batch ≥ 1, rate and duration > 0, qos 0 or 1; got assets={assets}, "
            f"processes={processes}, batch={batch}, rate={rate}, duration={duration_s}, qos={qos}"
        )
    parse_broker_url(broker_url)  # a bad URL fails here, not in every child
    processes = min(processes, assets)
    shares = [(p * assets // processes, (p + 1) * assets // processes) for p in range(processes)]
    report = LoadReport(site_id, assets, rate, processes, batch, qos, duration_s)
    jobs = [(broker_url, site_id, lo, hi, rate, batch, qos, duration_s, drain_timeout_s) for lo, hi in shares]
    began = time.monotonic()
    if processes == 1:
        parts = [_publish_share(*jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            parts = pool.starmap(_publish_share, jobs)
    report.elapsed_s = time.monotonic() - began
    for part in parts:
        if "error" in part:
            raise BrokerUnreachable(str(part["error"]))
        report.messages += int(part["messages"])
        report.readings += int(part["readings"])
        report.unacked += int(part["unacked"])
        report.elapsed_s = max(report.elapsed_s, float(part["elapsed_s"]))
        for index, last in enumerate(part["last_seq"], start=int(part["lo"])):
            if last >= 0:
                report.per_asset[asset_id(index)] = (0, int(last))
    return report


def _publish_share(
    broker_url: str,
    site_id: str,
    lo: int,
    hi: int,
    rate: float,
    batch: int,
    qos: int,
    duration_s: float,
    drain_timeout_s: float,
) -> dict[str, Any]:
    """One process: assets ``lo``..``hi - 1`` on one client; returns plain data (it crosses processes)."""
    host, port = parse_broker_url(broker_url)
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"fwload-{site_id}-{lo}-{time.monotonic_ns() % 1_000_000}"[:64],
        protocol=mqtt.MQTTv311,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    try:
        client.connect(host, port, keepalive=60)
    except OSError as exc:
        return {"error": f"load: no connection to the MQTT broker at {broker_url}: {exc}"}
    client.loop_start()
    kinds = [KINDS[i % 3] for i in range(lo, hi)]
    names = [
        topics.telemetry(site_id, kind, asset_id(i)) for i, kind in zip(range(lo, hi), kinds, strict=True)
    ]
    next_seq = [0] * (hi - lo)
    period = batch / rate
    step_ms = 1000.0 / rate
    messages = readings = 0
    last: mqtt.MQTTMessageInfo | None = None
    began = time.monotonic()
    t0_ms = int(time.time() * 1000)
    rounds = max(1, round(duration_s / period))
    try:
        for r in range(rounds):
            delay = began + r * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for j in range(hi - lo):
                first = next_seq[j]
                items = [
                    {
                        "ts": t0_ms + round((first + k) * step_ms),
                        "seq": first + k,
                        "values": values_for(kinds[j], first + k),
                    }
                    for k in range(batch)
                ]
                payload = orjson.dumps(items if batch > 1 else items[0])
                last = client.publish(names[j], payload, qos=qos)
                next_seq[j] = first + batch
                messages += 1
                readings += batch
        unacked = 0
        if last is not None:
            # QoS 1: acknowledged by the broker; QoS 0: written to the socket (paho keeps order).
            last.wait_for_publish(drain_timeout_s)
            unacked = 0 if last.is_published() else _pending(client)
        elapsed = time.monotonic() - began
    finally:
        client.disconnect()
        client.loop_stop()
    return {
        "lo": lo,
        "messages": messages,
        "readings": readings,
        "unacked": unacked,
        "elapsed_s": elapsed,
        "last_seq": [n - 1 for n in next_seq],
    }


def _pending(client: mqtt.Client) -> int:
    """Messages paho still holds unacknowledged (its own bookkeeping; at least one when the last is)."""
    outgoing = getattr(client, "_out_messages", None)
    return max(1, len(outgoing)) if outgoing is not None else 1
