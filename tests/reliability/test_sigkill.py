"""SIGKILL at 20 seeded-random points of a scripted run with faults: nothing lost, nothing twice, nothing stale.

``facwatch run --only gateway,alerts`` runs as a subprocess (this worktree's code) on a real Mosquitto with
persistence, the SQLite state database and the SQLite telemetry store. A device-like publisher (QoS 1,
persistent session) plays a script in real time: four elevators are each trapped three times (8 s stuck
between floors with people inside) and two pumps each burst three times (6 s), staggered, with everything
normal in between; the power panels report normal supply. While it plays, the process is killed with
SIGKILL at 20 random points (seed fixed) and started again at once each time; what the devices publish
while it is down waits in the broker.

After the run: every fault of the script has exactly one alert, opened inside the fault; every one of them
has resolved (its condition ended, and the hold is 5 s in this test); the engineer's messages (the demo
site's ``jsonl://`` file) hold no message twice, except one whose receipt shows a retry (outcome unknown).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.notify.audiences import ref_of
from gateway import codec, topics
from tests.fixtures.facwatch_process import FacwatchProcess
from tests.fixtures.waiting import wait_until
from tests.reliability.harness import PersistentMosquitto

SEED = 12
KILLS = 20
SCRIPT_S = 100.0
"""The script's length: the last fault ends at 97 s."""
REPEAT_S = 35.0
"""Each asset's faults are this far apart: more than the hold (5 s), so each one is its own alert."""

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
POWER_OK = {
    **{f"voltage_l{i}_v": 230.0 for i in (1, 2, 3)},
    **{f"current_l{i}_a": 200.0 for i in (1, 2, 3)},
    "frequency_hz": 50.0,
    "power_factor": 0.95,
    "transformer_temp_c": 55.0,
}


def pump(rated_bar: float, rated_flow: float, rated_a: float, burst: bool) -> dict[str, float]:
    return {
        "discharge_pressure_bar": rated_bar * (0.2 if burst else 0.95),
        "suction_pressure_bar": 1.3,
        "flow_m3h": rated_flow * (1.5 if burst else 0.8),
        "motor_current_a": rated_a * 0.8,
        "vibration_rms_mms": 1.8,
        "bearing_temp_c": 45.0,
        "running": 1.0,
    }


@dataclass(frozen=True)
class Fault:
    asset: str
    kind: str
    start_s: float
    length_s: float


ELEVATORS = {"b1-elev-1": 4.0, "b1-elev-2": 9.0, "b2-elev-1": 14.0, "b2-elev-2": 19.0}
PUMPS = {"b1-pump-1": (7.0, (6.0, 30.0, 22.0)), "b2-pump-1": (17.0, (8.0, 36.0, 30.0))}
FAULTS = [
    Fault(asset, "elevator.entrapment", offset + k * REPEAT_S, 8.0)
    for asset, offset in ELEVATORS.items()
    for k in range(3)
] + [
    Fault(asset, "pump.pipe_burst", offset + k * REPEAT_S, 6.0)
    for asset, (offset, _) in PUMPS.items()
    for k in range(3)
]
KINDS = sorted({f.kind for f in FAULTS})


def values_at(asset: str, t_s: float) -> tuple[str, Mapping[str, float]]:
    """(kind of device, values) that the script has the asset report ``t_s`` after its start."""
    faulty = any(f.asset == asset and f.start_s <= t_s < f.start_s + f.length_s for f in FAULTS)
    if asset in ELEVATORS:
        return "elevator", STUCK if faulty else MOVING
    if asset in PUMPS:
        return "pump", pump(*PUMPS[asset][1], burst=faulty)
    return "power", POWER_OK


class Devices:
    """Every scripted device publishing once a second at QoS 1 from one persistent-session client."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="sigkill-devices",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.start = time.time()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def elapsed(self) -> float:
        return time.time() - self.start

    def begin(self) -> None:
        self.start = time.time()
        self._thread.start()

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set() and tick <= SCRIPT_S + 10:
            wait = self.start + tick - time.time()
            if wait > 0 and self._stop.wait(wait):
                break
            now_ms = int(time.time() * 1000)
            for asset in [*ELEVATORS, *PUMPS, "b1-panel", "b2-panel"]:
                kind, values = values_at(asset, tick)
                topic = topics.telemetry("lakeside", kind, asset)
                self.client.publish(topic, codec.encode(now_ms, dict(values), seq=tick), qos=1)
                self.sent += 1
            tick += 1

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.disconnect()
        self.client.loop_stop()


class Facwatch(FacwatchProcess):
    """``facwatch run`` as a subprocess of this worktree's code; ``kill()`` is SIGKILL."""

    def __init__(self, workdir: Path, broker_url: str, resolve_hold_s: float = 5) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "facwatch.toml"
        self.config.write_text(
            f'data_dir = "{workdir / "data"}"\nsite = "demo"\nlog_format = "json"\nlog_level = "info"\n'
            f'[mqtt]\nurl = "{broker_url}"\nclient_id = "facwatch-sigkill"\n'
            f"[sla]\nresolve_hold_s = {resolve_hold_s}\n",
            encoding="utf-8",
        )
        super().__init__(self.config, workdir / "facwatch.log", "gateway,alerts")

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        path = self.workdir / "data" / "state.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            try:
                return conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                return []

    def alerts(self) -> list[tuple[str, str, str, str, str | None]]:
        """(asset, kind, state, opened_at, cleared_at) of the fault kinds' alerts."""
        marks = ",".join("?" for _ in KINDS)
        rows = self.query(
            f"SELECT asset, kind, state, opened_at, cleared_at FROM alerts WHERE kind IN ({marks}) ORDER BY id",
            *KINDS,
        )
        return [(str(a), str(k), str(s), str(o), None if c is None else str(c)) for a, k, s, o, c in rows]

    def messages(self) -> list[dict[str, object]]:
        path = self.workdir / "data" / "notifications.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PersistentMosquitto]:
    server = PersistentMosquitto(tmp_path / "mosquitto")
    server.start()
    yield server
    server.terminate()


def seconds_of(text: str) -> float:
    """Event time in seconds since the epoch of a stored SQLite datetime (UTC)."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# 21 process starts, each 6 to 30 s on a busy machine (measured): the suite's 300 s ran out in the restart
# loop; no figure that the test asserts depends on this budget
@pytest.mark.timeout(600)
def test_sigkill_at_20_random_points_loses_nothing_repeats_nothing_leaves_nothing_firing(
    broker: PersistentMosquitto, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    kill_at = sorted(rng.uniform(2.0, SCRIPT_S - 2.0) for _ in range(KILLS))
    facwatch = Facwatch(tmp_path / "facwatch", broker.url)
    facwatch.start()
    devices = Devices(broker.port)
    devices.begin()
    kills = 0
    try:
        for at in kill_at:
            # a random moment of the script, and at least a random moment of this process's life
            time.sleep(max(0.0, at - devices.elapsed()) + rng.uniform(0.0, 0.5))
            facwatch.kill()
            kills += 1
            facwatch.start()
        wait_until(lambda: devices.done, SCRIPT_S + 30, "the script played")

        def settled() -> bool:
            rows = facwatch.alerts()
            return len(rows) >= len(FAULTS) and all(state == "resolved" for _, _, state, _, _ in rows)

        try:
            wait_until(settled, 60, "every fault's alert resolved")
        except AssertionError as exc:  # say which: missing, still firing, or held open as flapping
            marks = ",".join("?" for _ in KINDS)
            left = facwatch.query(
                "SELECT id, asset, kind, state, opened_at, cleared_at, flapping FROM alerts"
                f" WHERE kind IN ({marks}) AND state != 'resolved' ORDER BY id",
                *KINDS,
            )
            raise AssertionError(
                f"{exc}: {len(facwatch.alerts())} of {len(FAULTS)} alerts; not resolved: {left}"
            ) from None
    finally:
        devices.close()
        facwatch.stop()
    assert kills == KILLS
    log = facwatch.log.read_text(encoding="utf-8", errors="replace")
    assert log.count('"checkpoint.restored"') == KILLS + 1

    # Every fault of the script has exactly one alert, opened inside the fault (onset + the 4 s hold).
    rows = facwatch.alerts()
    t0 = devices.start
    for fault in FAULTS:
        mine = [
            r
            for r in rows
            if r[0] == fault.asset
            and r[1] == fault.kind
            and fault.start_s - 1 <= seconds_of(r[3]) - t0 <= fault.start_s + fault.length_s + 1
        ]
        assert len(mine) == 1, (fault, mine)
    assert len(rows) == len(FAULTS), rows
    # No alert stays firing whose condition has ended: each cleared within a second or two of its fault's end.
    assert all(state == "resolved" and cleared is not None for _, _, state, _, cleared in rows)

    # No message twice, except one whose send was retried with an unknown outcome.
    refs = Counter(
        m
        for message in facwatch.messages()
        for m in re.findall(r"\bN[0-9a-f]{8}\b", str(message.get("body")))
    )
    keys = {
        ref_of(str(key)): int(attempts)
        for key, attempts in facwatch.query(
            "SELECT n.key, MAX(r.attempts) FROM notifications n JOIN notification_receipts r"
            " ON r.notification_id = n.id GROUP BY n.id"
        )
    }
    assert refs, "no message reached anyone"
    twice = {ref: count for ref, count in refs.items() if count > 1 and keys.get(ref, 1) <= 1}
    assert twice == {}, twice


POWER_OUT = {
    **POWER_OK,
    **{f"voltage_l{i}_v": 0.0 for i in (1, 2, 3)},
    **{f"current_l{i}_a": 0.0 for i in (1, 2, 3)},
}


def test_an_outage_that_ended_while_down_resolves_and_a_later_burst_is_red(
    broker: PersistentMosquitto, tmp_path: Path
) -> None:
    facwatch = Facwatch(tmp_path / "facwatch", broker.url, resolve_hold_s=30)
    facwatch.start()
    devices = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="outage-devices", clean_session=False, protocol=mqtt.MQTTv311
    )
    devices.connect("127.0.0.1", broker.port)
    devices.loop_start()

    def publish(asset: str, kind: str, values: Mapping[str, float], seconds: int) -> None:
        for _ in range(seconds):
            payload = codec.encode(int(time.time() * 1000), dict(values))
            devices.publish(topics.telemetry("lakeside", kind, asset), payload, qos=1).wait_for_publish(5)
            time.sleep(1)

    def alert(asset: str, kind: str) -> tuple[object, ...] | None:
        rows = facwatch.query(
            "SELECT state, cleared_at, suppressed_by, level, id FROM alerts WHERE asset = ? AND kind = ?"
            " ORDER BY id DESC LIMIT 1",
            asset,
            kind,
        )
        return rows[0] if rows else None

    try:
        publish("b1-pump-1", "pump", pump(6.0, 30.0, 22.0, burst=False), 2)
        publish("b1-panel", "power", POWER_OUT, 5)
        wait_until(lambda: alert("b1-panel", "power.outage") is not None, 20, "the outage fires")
        facwatch.kill()  # down while the power comes back
        publish("b1-panel", "power", POWER_OK, 3)
        facwatch.start()
        # the outage is over: it clears at once (and resolves after its hold) ...
        wait_until(
            lambda: (alert("b1-panel", "power.outage") or (0, None))[1] is not None, 30, "outage cleared"
        )
        # ... so a pipe burst in the same building, within that hold, is not suppressed by it: RED, told
        publish("b1-pump-1", "pump", pump(6.0, 30.0, 22.0, burst=True), 4)
        wait_until(lambda: alert("b1-pump-1", "pump.pipe_burst") is not None, 20, "the burst's alert")
        state, _, suppressed_by, level, _ = alert("b1-pump-1", "pump.pipe_burst") or ()
        assert (state, suppressed_by, level) == ("firing", None, "red")

        def engineer_told() -> bool:
            return any(
                m.get("audience") == "engineer"
                and "1号楼生活水泵" in str(m.get("body")) + str(m.get("title"))
                for m in facwatch.messages()
            )

        wait_until(engineer_told, 30, "the engineer told of the burst")
        wait_until(
            lambda: (alert("b1-panel", "power.outage") or ("",))[0] == "resolved", 60, "outage resolved"
        )
    finally:
        devices.disconnect()
        devices.loop_stop()
        facwatch.stop()
