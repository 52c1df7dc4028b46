"""The scripted month's stage (``test_month_mqtt.py``): its clock, its compound, its moments, what was told.

The whole system runs on a ``ScriptClock``: the script sets it to each scripted moment and it runs at the
wall clock's pace from there, the simulator's event time with it. The simulator's devices are a ``Fleet``
held on the broker for the whole month: between moments they say ``online`` every second, and a jump of the
clock is made through the fleet, which has every device speak right after it; ``Stage.jump`` then waits until
the gateway has heard each device in the new time, so no silence is ever judged across the skipped days.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from facwatch.app import System
from facwatch.model import Maintenance, MaintenancePlan, MaintenanceWindow, Site, ms_from_utc
from simulator.fleet import Fleet
from simulator.scenario import load_scenario
from tests.alerts.helpers import demo_site
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

ELEVATOR, OTHER = "b1-elev-1", "b1-elev-2"
DAY = timedelta(days=1)
D0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, day 0 of the month
WINDOW_START = D0 + 3 * DAY + timedelta(hours=7)  # day 3, 16:00 in Shanghai
WINDOW = MaintenanceWindow(
    "S-half-month",  # the site file's `ref = "half-month"`
    ELEVATOR,
    WINDOW_START,
    WINDOW_START + timedelta(hours=2),
    None,
    "半月保养 half-monthly maintenance",
)
JOIN_S = 10.0
STOP_S = 45.0
"""The system's stop is given this long (each of its parts joins within 10 s; a 30 s SQLite lock wait fits)."""


class ScriptClock:
    """The system's clock: set to each scripted moment, running at the wall clock's pace from there."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._base, self._t0 = when, time.monotonic()


def compound(receiver: HttpReceiver) -> Site:
    """The demo compound (its audiences posting to the receiver), with two plans and the window S-half-month."""
    plans = (
        MaintenancePlan(ELEVATOR, 15.0, last_visit=D0 - 10 * DAY),  # due on day 5
        MaintenancePlan(
            OTHER, 45.0, certificate="TSX-0113", certificate_expires=D0 + 40 * DAY, last_visit=D0
        ),  # expires within 30 days from day 10
    )
    return dataclasses.replace(demo_site(receiver), maintenance=Maintenance(plans=plans, windows=(WINDOW,)))


def stop_bounded(system: System, timeout: float = STOP_S) -> None:
    """``system.stop()`` in a thread joined with a timeout: a stop that hangs fails the test with every
    thread's stack instead of hanging the run."""
    thread = threading.Thread(target=system.stop, name="month-stop", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        faulthandler.dump_traceback(all_threads=True)
        raise AssertionError(f"the system did not stop within {timeout:.0f} s (stacks above)")


class Stage:
    """The running month: the system, its clock, the held fleet, an admin's API client, the receiver."""

    def __init__(self, system: System, clock: ScriptClock, fleet: Fleet, receiver: HttpReceiver) -> None:
        self.system, self.clock, self.fleet, self.receiver = system, clock, fleet, receiver
        token = system.tokens.create("month", ["admin"])
        self.client = httpx.Client(
            base_url=system.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def close(self) -> None:
        self.client.close()

    def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """``wait_until``, and when it fails every thread's stack on stderr first: a stall names itself."""
        try:
            wait_until(predicate, timeout, what)
        except Exception:
            faulthandler.dump_traceback(all_threads=True)
            raise

    # --- time ------------------------------------------------------------------------------------------

    def heard_since(self, when: datetime) -> bool:
        """Whether the gateway has heard every device at ``when`` or later, and holds each online."""
        gateway = self.system.gateway
        assert gateway is not None
        since = ms_from_utc(when)
        return all(
            p.online and p.last_seen_ms is not None and p.last_seen_ms >= since
            for p in gateway.presence().values()
        )

    def jump(self, when: datetime) -> None:
        """Move the clock to ``when`` with the devices in step: they speak right after the jump, and the
        script goes on once the gateway has heard each of them in the new time."""
        self.fleet.jump(lambda: self.clock.set(when))
        self.wait(lambda: self.heard_since(when), 15, f"every device heard after the jump to {when}")

    @contextmanager
    def moment(self, scenario: str) -> Iterator[None]:
        """The simulator plays the shipped ``scenario`` from the clock's now (its event time), in the
        background, until the block ends; its thread is joined (bounded) and its error, if any, raised."""
        stop, failed = threading.Event(), []

        def play() -> None:
            try:
                start = ms_from_utc(self.clock.now())
                self.fleet.play(load_scenario(scenario), start_ms=start, seed=7, stop=stop)
            except BaseException as exc:  # handed to the script's thread
                failed.append(exc)

        thread = threading.Thread(target=play, name=f"moment-{scenario}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(JOIN_S)
        assert not thread.is_alive(), f"the moment {scenario} did not stop within {JOIN_S} s"
        if failed:
            raise failed[0]

    # --- what users see --------------------------------------------------------------------------------

    def alerts(self, kind: str) -> list[dict[str, Any]]:
        answer = self.client.get("/api/v1/alerts", params={"limit": 200})
        assert answer.status_code == 200, answer.text
        return [a for a in answer.json()["items"] if a["kind"] == kind]

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/tickets/{ticket_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def act(self, ticket_id: str, **action: str) -> None:
        answer = self.client.post(f"/api/v1/tickets/{ticket_id}/actions", json=action)
        assert answer.status_code < 300, answer.text

    def posts(self, path: str) -> list[Any]:
        with self.receiver.lock:
            pairs = list(zip(self.receiver.paths, self.receiver.received, strict=True))
        return [body for p, body in pairs if p.endswith(path)]

    def told(self, path: str, words: str) -> list[Any]:
        """What the audience at ``path`` received with ``words`` in its title or text."""
        return [b for b in self.posts(path) if words in f"{b['title']} {b['message']}"]

    def wait_told(self, path: str, words: str, timeout: float = 20) -> list[Any]:
        self.wait(lambda: self.told(path, words), timeout, f"{path} told {words!r}")
        return self.told(path, words)
