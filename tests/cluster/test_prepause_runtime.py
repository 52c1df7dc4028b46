"""The site runtime writes no detector checkpoint while a judged finding waits for the state database: neither
the checkpoint loop's nor the clean stop's (SQLite state, the runtime as ``facwatch run`` builds it)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from alerts.engine.checkpoint import checkpoints
from alerts.engine.intake import Judgement, Late
from alerts.engine.intake_queue import FindingsQueue
from alerts.engine.ports import AlertQuery
from facwatch.app import build
from facwatch.config import load_settings, load_site
from facwatch.model import Finding, Level, Reading, ms_from_utc
from tests.fixtures.waiting import wait_until

ELEVATOR = "b1-elev-1"
MOVING = {"floor": 5, "in_door_zone": 0, "door_open": 0, "speed_mps": 1.6, "motor_current_a": 30}
MOVING |= {"vibration_rms_g": 0.05, "load_kg": 150, "alarm_button": 0, "running": 1}
STUCK = {**MOVING, "speed_mps": 0.0, "running": 0, "motor_current_a": 0.5}


def written_at(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(checkpoints.c.written_at)).scalar_one_or_none()


def test_no_checkpoint_while_a_finding_waits_not_even_the_clean_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    system = build(load_settings(data_dir=tmp_path / "data"), site, parts=["alerts"])
    runtime = system.runtimes[site.id]
    gate, waiting, down = threading.Event(), threading.Event(), threading.Event()
    commit = runtime.alerts.commit

    def slow(judgement: Judgement, late: Late | None = None) -> None:
        if judgement.findings and down.is_set():
            raise OperationalError("INSERT", {}, ConnectionError("the state database is gone"))
        if judgement.findings and not gate.is_set():  # the state database is slow for findings
            waiting.set()
            gate.wait(30)
        commit(judgement, late)

    monkeypatch.setattr(runtime.alerts, "commit", slow)
    t0 = datetime.now(UTC) - timedelta(seconds=60)

    def receive(values: dict[str, float], start_s: int, count: int) -> None:
        for i in range(start_s, start_s + count):
            ts_ms = ms_from_utc(t0 + timedelta(seconds=i))
            runtime._on_batch([Reading(site.id, ELEVATOR, ch, ts_ms, float(v)) for ch, v in values.items()])

    def entrapments() -> list[str]:
        return [a.state.value for a in runtime.alerts.list_alerts(AlertQuery(asset=ELEVATOR)).items]

    try:
        runtime.start()  # restored (nothing) and checkpointed at once
        first = written_at(system.engine)
        assert first is not None and runtime.intake is not None
        with (
            runtime.intake.judging() as judged
        ):  # a batch judged, its judgement not queued yet: no checkpoint
            runtime.alerts.judge([Reading(site.id, ELEVATOR, "floor", ms_from_utc(t0), 5.0)], judged=judged)
            assert runtime.checkpoint.write(datetime.now(UTC)) is None
        receive(MOVING, 0, 10)
        receive(STUCK, 10, 10)  # someone trapped: the RED's commit is slow
        wait_until(waiting.is_set, 20, "the entrapment's commit under way")
        runtime._checkpoint_once()  # the loop's checkpoint comes due: skipped
        assert written_at(system.engine) == first
        gate.set()
        wait_until(lambda: entrapments() == ["firing"], 20, "the RED committed")
        wait_until(
            lambda: runtime.intake is not None and runtime.intake.uncommitted() == 0, 20, "queue empty"
        )
        runtime._checkpoint_once()  # all committed: written
        second = written_at(system.engine)
        assert second is not None and second > first

        down.set()  # the state database fails for the next finding: the car moves again (the RED clears)
        receive(MOVING, 20, 10)
        wait_until(lambda: runtime.intake is not None and runtime.intake.down_s() > 0, 20, "commits failing")
        runtime.stop()  # the clean stop: the clear stays queued, and so no last checkpoint is written
        assert written_at(system.engine) == second
        down.clear()
        runtime.start()  # the queued clear is committed first; the replay has what came after the checkpoint
        wait_until(
            lambda: runtime.intake is not None and runtime.intake.backlog() == 0, 20, "the clear committed"
        )
        receive(MOVING, 30, 10)
        runtime.alerts.tick(t0 + timedelta(seconds=160))  # longer than any hold
        wait_until(lambda: entrapments() == ["resolved"], 20, "the RED resolved")  # once, and not lost
    finally:
        gate.set()
        down.clear()
        system.stop()


def test_the_runtime_stores_its_lease_epoch_and_drops_a_left_queue_a_later_checkpoint_supersedes(
    tmp_path: Path,
) -> None:
    """The wiring of rule 3 (docs/architecture.md, "Leases"): the epoch the process holds the site under goes
    with every checkpoint and queued judgement, and a start drops what an older tenure left behind a newer
    checkpoint. (SQLite state with a stand-in lease epoch; the leases themselves: test_prepause.py.)"""
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    system = build(load_settings(data_dir=tmp_path / "data"), site, parts=["alerts"])
    runtime = system.runtimes[site.id]
    held = {"epoch": 4}
    runtime.shared = dataclasses.replace(runtime.shared, epoch=lambda _site: held["epoch"])
    t0 = ms_from_utc(datetime.now(UTC) - timedelta(seconds=60))
    trapped = Finding(
        site.id, ELEVATOR, "elevator.entrapment", t0, True, Level.RED, "trapped", "speed_mps", 0.0, {}
    )
    try:
        runtime.start()  # epoch 4: its checkpoint at start stores it
        assert runtime.checkpoint.stored_epoch() == 4
        runtime.stop()
        queue = FindingsQueue(runtime.intake_path)  # what a killed tenure 3 left, judged before epoch 4's
        queue.append(Judgement((trapped,), t0 + 10_000, None), t0, epoch=3)
        queue.close()
        held["epoch"] = 5
        runtime.start()
        wait_until(
            lambda: runtime.intake is not None and runtime.intake.dropped == 1, 20, "the entry dropped"
        )
        assert runtime.alerts.list_alerts(AlertQuery(asset=ELEVATOR)).items == []
        runtime._checkpoint_once()
        assert runtime.checkpoint.stored_epoch() == 5
    finally:
        system.stop()


def test_checkpoints_are_written_under_a_steady_stream_of_readings(tmp_path: Path) -> None:
    """A busy site's gateway hands batches over back to back, so one is nearly always waiting for the rules:
    only a batch the rules have taken (and whose judgement is not queued yet) holds the checkpoint back. When a
    batch was counted from before it waited for the rules, 19 checkpoints of 20 were skipped, and every restart
    replayed up to ``REPLAY_MAX_S`` of history."""
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    system = build(load_settings(data_dir=tmp_path / "data"), site, parts=["alerts"])
    runtime = system.runtimes[site.id]
    elevators = [a.id for a in site.assets if a.kind == "elevator"]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    stop = threading.Event()
    batches = 0

    def gateway() -> None:
        nonlocal batches
        while not stop.is_set():
            ts_ms = ms_from_utc(t0 + timedelta(milliseconds=100 * batches))
            runtime._on_batch(
                [Reading(site.id, a, ch, ts_ms, float(v)) for a in elevators for ch, v in MOVING.items()]
            )
            batches += 1

    feeder = threading.Thread(target=gateway, daemon=True)
    try:
        runtime.start()
        feeder.start()
        wait_until(lambda: batches > 100, 20, "the stream under way")
        written = 0
        for _ in range(20):
            written += runtime.checkpoint.write(datetime.now(UTC)) is not None
            stop.wait(0.05)
        assert written >= 10, f"{written} checkpoints of 20 written under the stream"
    finally:
        stop.set()
        feeder.join(10)
        runtime.stop()
        system.stop()
