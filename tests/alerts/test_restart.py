"""Restarts: clocks and alert state live in the state database. A process killed with open clocks and
started again re-fires nothing that was already notified, and a clock that ran out while it was down
escalates as soon as it is back — counted in the outbox, nothing twice and nothing missed."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from alerts.detection.rules import Rules
from alerts.engine.checkpoint import MAGIC, Checkpointer, Snapshot, checkpoints, decode, encode
from alerts.engine.db import notifications
from alerts.engine.ports import AlertQuery, OwnerReport
from facwatch.config import load_site
from facwatch.model import AlertState, TicketAction
from ingest.sqlite_store import SqliteStore
from tests.alerts.helpers import (
    AT_FLOOR,
    DATABASES,
    HOLD,
    MOVING,
    STUCK,
    T0_MS,
    Harness,
    demo_site,
    frame,
    seconds,
    state_engine,
)
from tests.fixtures.receivers import HttpReceiver


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def outbox(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [k for (k,) in conn.execute(select(notifications.c.key).order_by(notifications.c.id))]


def test_clocks_that_ran_out_while_down_escalate_once_when_back(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    h = Harness(engine, demo_site(http_receiver), words=False)
    h.feed(STUCK, 0, 6)  # RED entrapment on b1-elev-1: acknowledge due at +60 s, on site at +180 s
    h.feed(STUCK, 0, 6, asset="b2-elev-1")
    (b2,) = h.service.list_alerts(AlertQuery(asset="b2-elev-1")).items
    assert b2.ticket_id
    h.act(b2.ticket_id, TicketAction.ACKNOWLEDGE, 30, actor="eng-wang")  # b2's acknowledge clock stops
    report = OwnerReport("lakeside", "b1", "water", "no water on 12", "owner-1203")
    h.service.open_owner_ticket(report, h.at(10))  # acknowledge due at +610 s
    before = outbox(engine)
    assert len(before) == 3  # the engineer told of each ticket
    h.restart()  # the process was down from here ...
    h.service.tick(h.at(3600))  # ... for an hour: every clock that ran out fires, once each
    after = outbox(engine)[len(before) :]
    assert sorted(k.split(":")[0] + ":" + k.split(":")[2] for k in after) == [
        "T-000001:on_site",  # b1's entrapment: both its clocks ran out, one escalation for the worse
        "T-000002:on_site",  # b2's: acknowledged, but nobody arrived
        "T-000003:acknowledge",  # the owner's report: nobody acknowledged
    ]
    h.restart()
    h.service.tick(h.at(3600))  # the same moment again after another restart: nothing new
    h.service.tick(h.at(3601))
    assert len(outbox(engine)) == len(before) + 3
    h.service.tick(h.at(3660))  # a full repeat interval later: the reminders, once each
    assert len(outbox(engine)) == len(before) + 6


SCRIPT = textwrap.dedent(
    """
    import sys
    from alerts.engine.events import EventBus
    from alerts.engine.service import AlertService
    from facwatch.config import SlaSettings, load_site
    from facwatch.state import open_engine
    from facwatch.model import utc_from_ms
    from tests.alerts.helpers import STUCK, RecordingNotifier, seconds

    site = load_site("demo", variables={"data_dir": sys.argv[2]})
    engine = open_engine(sys.argv[1])
    service = AlertService(engine, site, SlaSettings(), EventBus(), RecordingNotifier(site, [], False))
    for i, readings in enumerate(seconds(STUCK, 0, 100_000)):
        service.observe(readings)
        service.tick(utc_from_ms(readings[0].ts_ms))
        print(i, flush=True)
    """
)


def test_a_killed_process_replayed_from_the_broker_notifies_nothing_twice(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # the process has lived 30 simulated seconds: alert and ticket are open
            if int(line) >= 30 or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = outbox(engine)
    assert [k.split(":")[1] for k in before] == ["A-000001"]  # the engineer was told, once
    # Started again: the broker redelivers what was not acknowledged (the same readings), then time goes on.
    h = Harness(engine, load_site("demo", variables={"data_dir": str(tmp_path)}), words=False)
    h.feed(STUCK, 0, 40)
    assert outbox(engine) == before  # nothing twice
    h.service.tick(h.at(HOLD + 60))
    keys = outbox(engine)
    assert len(keys) == 2 and ":escalate:acknowledge:" in keys[1]  # nothing missed
    (alert,) = h.service.list_alerts().items
    assert alert.count == 1 and alert.ticket_id == "T-000001"
    h.act("T-000001", TicketAction.ACKNOWLEDGE, HOLD + 70, actor="eng-wang")
    assert h.service.get_ticket("T-000001").acknowledged_at == h.at(HOLD + 70)


# --- detector state that survives a restart (alerts/engine/checkpoint.py) ----------------------------------

POWER_OK = {"voltage_l1_v": 229.0, "voltage_l2_v": 231.0, "voltage_l3_v": 230.0, "current_l1_a": 200.0}
POWER_OUT = {**POWER_OK, "voltage_l1_v": 0.0, "voltage_l2_v": 0.0, "voltage_l3_v": 0.0, "current_l1_a": 0.0}
PUMP_OK = {
    "discharge_pressure_bar": 5.8,
    "suction_pressure_bar": 1.3,
    "flow_m3h": 25.0,
    "motor_current_a": 18.0,
    "running": 1.0,
}
BURST = {**PUMP_OK, "discharge_pressure_bar": 1.4, "flow_m3h": 50.0, "motor_current_a": 25.0}


def firing(h: Harness, asset: str, kind: str) -> list[Any]:
    return [
        a
        for a in h.service.list_alerts(AlertQuery(asset=asset)).items
        if a.kind == kind and a.state == AlertState.FIRING
    ]


@pytest.mark.parametrize(
    "saved",
    [
        "checkpoint",  # the restored rules know the car was stuck
        "none",  # no checkpoint: the firing alert is carried until a reading judges it
        "corrupt",  # an unreadable checkpoint is logged and ignored, never a crash
        "other version",  # a checkpoint of another facwatch version: the same
    ],
)
def test_a_condition_that_ended_while_down_resolves_after_its_hold(engine: Engine, saved: str) -> None:
    h = Harness(engine, load_site("demo", variables={"data_dir": "/nonexistent"}), words=False)
    h.feed(STUCK, 0, 10)
    assert firing(h, "b1-elev-1", "elevator.entrapment")
    checkpoint = Checkpointer(h.service, None)
    if saved != "none":
        checkpoint.write(h.at(10))
    if saved in ("corrupt", "other version"):
        blob = MAGIC + (b"\x00\x01" + b"garbage" if saved == "corrupt" else b"\x00\x63")
        with engine.begin() as conn:
            conn.execute(update(checkpoints).values(data=blob))
    h.restart()  # down from +10 s; meanwhile the passengers got out at a landing
    restored = Checkpointer(h.service, None).restore(h.at(40))
    assert (restored.problem is not None) == (saved in ("corrupt", "other version"))
    assert restored.carried == (() if saved == "checkpoint" else ("b1-elev-1/elevator.entrapment",))
    h.feed(AT_FLOOR, 40, 5)  # the first readings after the restart show the car at a landing
    h.service.tick(h.at(45 + 61))  # the hold (60 s) passes
    assert not firing(h, "b1-elev-1", "elevator.entrapment")
    (alert,) = h.service.list_alerts(AlertQuery(asset="b1-elev-1")).items
    assert alert.state == AlertState.RESOLVED and alert.count == 1


def test_a_stale_outage_stops_suppressing_so_a_later_pipe_burst_is_red(engine: Engine) -> None:
    h = Harness(engine, load_site("demo", variables={"data_dir": "/nonexistent"}), words=False)
    h.feed(POWER_OUT, 0, 6, asset="b1-panel")
    h.feed(PUMP_OK, 0, 6, asset="b1-pump-1")
    assert firing(h, "b1-panel", "power.outage")
    Checkpointer(h.service, None).write(h.at(6))
    h.restart()  # down; the power came back meanwhile
    Checkpointer(h.service, None).restore(h.at(100))
    h.feed(POWER_OK, 100, 2, asset="b1-panel")  # the outage has ended: it clears (resolves after its hold)
    h.feed(BURST, 102, 4, asset="b1-pump-1")  # a pipe bursts in the same building, within that hold
    (burst,) = firing(h, "b1-pump-1", "pump.pipe_burst")
    assert burst.suppressed_by is None and burst.level.value == "red" and burst.ticket_id
    opened = [n for n in h.kinds("opened") if n.asset is not None and n.asset.id == "b1-pump-1"]
    assert [n.level.value for n in opened] == ["red"]  # the engineer is told


def test_readings_stored_but_not_judged_before_a_crash_are_judged_on_start(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, load_site("demo", variables={"data_dir": "/nonexistent"}), words=False)
    h.feed(MOVING, 0, 5)
    Checkpointer(h.service, None).write(h.at(5))
    store = SqliteStore(tmp_path / "telemetry.db")
    try:
        for readings in seconds(MOVING, 0, 5):
            store.write(readings)
        for readings in seconds(STUCK, 5, 10):  # stored, then the process died before judging them
            store.write(readings)
        h.restart()
        restored = Checkpointer(h.service, store).restore(h.at(20))
    finally:
        store.close()
    assert restored.replayed == 10 * len(STUCK)  # only what came after the checkpoint
    (alert,) = firing(h, "b1-elev-1", "elevator.entrapment")
    assert alert.opened_at == h.at(5 + HOLD)  # at the onset's event time
    assert [n.kind.value for n in h.notices] == ["opened"]


def test_the_wear_trend_is_not_blind_after_a_restart() -> None:
    """Three days of a climbing vibration, restarted from a checkpoint every 6 hours: the same prediction
    at the same moment as without restarts (the trend's hourly buckets survive)."""
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    fast = {**MOVING, "speed_mps": 1.7}

    def run(restart_every: int | None) -> list[tuple[str, bool, int]]:
        rules, out = Rules(site), []
        for minute in range(3 * 24 * 60):
            if restart_every and minute % restart_every == 0:
                saved = {
                    a.id: (rules.fingerprint(a), s) for a in site.assets if (s := rules.state().get(a.id))
                }
                snap = decode(encode(Snapshot(site.id, 0, saved, {}, {})), site.id)
                rules = Rules(site)
                assert len(rules.restore(snap.assets)) == len(site.assets)
            values = {**fast, "vibration_rms_g": 0.016 + 0.04 * minute / 1440}
            out += rules.observe(frame(values, T0_MS + minute * 60_000))
        return [(f.kind, f.active, f.ts_ms) for f in out]

    uninterrupted = run(None)
    assert any(kind == "elevator.wear_predicted" for kind, _, _ in uninterrupted)
    assert run(6 * 60) == uninterrupted


def test_an_asset_whose_profile_changed_starts_fresh_and_the_others_are_restored() -> None:
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    rules = Rules(site)
    rules.observe(frame(STUCK, T0_MS))
    saved = {a.id: (rules.fingerprint(a), s) for a in site.assets if (s := rules.state().get(a.id))}
    faster = dataclasses.replace(
        site.asset("b1-elev-1"), rated={"floors": 18.0, "speed_mps": 2.5, "load_kg": 1000.0}
    )
    changed = dataclasses.replace(site, assets=tuple(faster if a.id == faster.id else a for a in site.assets))
    fresh = Rules(changed)
    taken = fresh.restore(decode(encode(Snapshot(site.id, 0, saved, {}, {})), site.id).assets)
    assert "b1-elev-1" not in taken and len(taken) == len(site.assets) - 1
    assert fresh.judged_ms("b1-elev-1") == 0  # its detectors were built for another rated speed


def test_a_takeover_whose_checkpoint_predates_an_entrapment_keeps_it_firing(
    engine: Engine, tmp_path: Path
) -> None:
    h = Harness(engine, load_site("demo", variables={"data_dir": "/nonexistent"}), words=False)
    store = SqliteStore(tmp_path / "telemetry.db")
    try:
        h.feed(MOVING, 0, 10)
        for readings in seconds(MOVING, 0, 10):
            store.write(readings)
        Checkpointer(h.service, None).write(h.at(5))  # taken while the car still moved
        h.feed(STUCK, 10, 10)  # someone is trapped: the RED opens, then the worker dies
        for readings in seconds(STUCK, 10, 10):
            store.write(readings)
        assert firing(h, "b1-elev-1", "elevator.entrapment")
        h.restart()  # another worker takes the site: the replay judges the moving car before the stop again
        restored = Checkpointer(h.service, store).restore(h.at(21))
    finally:
        store.close()
    assert restored.carried == ("b1-elev-1/elevator.entrapment",)
    h.feed(STUCK, 21, 5)  # still trapped
    h.service.tick(h.at(26 + 61))  # longer than any hold
    (alert,) = firing(h, "b1-elev-1", "elevator.entrapment")  # the readings before the onset resolve nothing
    assert alert.count == 1
    assert [n.kind.value for n in h.notices if n.kind.value != "escalated"] == ["opened"]  # no all-clear
