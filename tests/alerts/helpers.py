"""Readings as the gateway hands them over (one Reading per channel, all with the asset's ts_ms), and the
alert service on a real state database (SQLite and PostgreSQL) with a harness to drive it in event time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from alerts.engine import eventlog
from alerts.engine.db import notifications
from alerts.engine.events import Event, EventBus
from alerts.engine.notices import Notice, Notifier
from alerts.engine.ports import ActionRequest
from alerts.engine.service import AlertService
from facwatch.config import SlaSettings, load_site
from facwatch.model import Reading, Site, TicketAction, ms_from_utc
from tests.fixtures.postgres import state_engine as state_engine  # re-exported for the engine's tests
from tests.fixtures.receivers import HttpReceiver

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
T0_MS = ms_from_utc(T0)
SITE = "lakeside"
ELEVATOR = "b1-elev-1"

MOVING: Mapping[str, float] = {
    "floor": 5,
    "in_door_zone": 0,
    "door_open": 0,
    "speed_mps": 1.6,
    "motor_current_a": 30,
    "vibration_rms_g": 0.05,
    "load_kg": 150,
    "alarm_button": 0,
    "running": 1,
}
STUCK = {**MOVING, "speed_mps": 0.0, "running": 0, "motor_current_a": 0.5}
"""Stopped between floors, doors closed, two people inside."""
AT_FLOOR = {**STUCK, "in_door_zone": 1}
"""A normal stop at a landing, doors still closed."""
EMPTY_STUCK = {**STUCK, "load_kg": 0}


def frame(values: Mapping[str, float], ts_ms: int, asset: str = ELEVATOR, site: str = SITE) -> list[Reading]:
    return [Reading(site, asset, channel, ts_ms, float(v)) for channel, v in values.items()]


def seconds(
    values: Mapping[str, float], start_s: float, count: int, asset: str = ELEVATOR
) -> Iterator[list[Reading]]:
    """``count`` one-second frames starting ``start_s`` after T0."""
    for i in range(count):
        yield frame(values, T0_MS + int((start_s + i) * 1000), asset)


HOLD = 4  # the entrapment hold: onset at T0, alert at T0 + 4 s


DATABASES = ["sqlite", "postgresql"]
"""Parametrise a fixture with these and ``yield from state_engine(request, tmp_path)``."""


def demo_site(receiver: HttpReceiver) -> Site:
    """The demo compound, with every audience posting to its own path of the receiver."""
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    people = tuple(dataclasses.replace(p, notify=(f"{receiver.url}{p.role}",)) for p in site.people)
    owners = tuple(
        dataclasses.replace(o, notify=(f"{receiver.url}owners-{o.building}",)) for o in site.owners
    )
    return dataclasses.replace(site, people=people, owners=owners)


class RecordingNotifier:
    """Keeps a copy of every notice the engine hands over, then writes the outbox rows.

    With ``words=True`` the real ``OutboxNotifier`` writes them (messages and audiences of the
    notifications issue); otherwise one plain row per staff member named (key ``<notice key>:<person>``),
    so the engine's tests count exactly what the engine decided, whatever the wording does.
    """

    def __init__(self, site: Site, notices: list[Notice], words: bool) -> None:
        self.inner: Notifier | None = None
        if words:
            from alerts.notify.outbox import OutboxNotifier  # the notifications issue's, imported when used

            self.inner = OutboxNotifier(site)
        self.notices = notices

    def notify(self, conn: Any, notices: Any, now: datetime) -> int:
        self.notices.extend(notices)
        if self.inner is not None:
            return self.inner.notify(conn, notices, now)
        added = 0
        for notice in notices:
            for person in notice.staff:
                key = f"{notice.key}:{person.id}"
                if conn.execute(select(notifications.c.id).where(notifications.c.key == key)).first():
                    continue
                row = {
                    "key": key,
                    "site": notice.site,
                    "ticket_id": notice.ticket_pk,
                    "audience": person.role,
                }
                row |= {"recipient": person.id, "title": notice.kind.value, "body": notice.summary}
                conn.execute(insert(notifications).values(**row, created_at=now))
                added += 1
        return added


class Harness:
    def __init__(
        self, engine: Engine, site: Site, sla: SlaSettings | None = None, *, words: bool = True
    ) -> None:
        self.engine, self.site, self.sla, self.words = engine, site, sla or SlaSettings(), words
        self.notices: list[Notice] = []
        self.restart()

    def restart(self) -> None:
        """A new process on the same database: fresh service, bus and dispatcher."""
        bus = EventBus()
        notifier: Notifier = RecordingNotifier(self.site, self.notices, self.words)
        self.service = AlertService(self.engine, self.site, self.sla, bus, notifier)
        self._dispatcher: Any = None

    @property
    def events(self) -> list[Event]:
        """What the engine wrote to the event log: what every process's streams and webhooks read."""
        with self.engine.connect() as conn:
            return eventlog.read(conn, 0, limit=100_000)

    @property
    def dispatcher(self) -> Any:
        if self._dispatcher is None:
            from alerts.notify.outbox import Dispatcher  # the notifications issue's, imported when used

            self._dispatcher = Dispatcher(self.engine)
        return self._dispatcher

    def kinds(self, kind: str) -> list[Notice]:
        return [n for n in self.notices if n.kind.value == kind]

    def feed(self, values: Mapping[str, float], start_s: float, count: int, asset: str = "b1-elev-1") -> None:
        for readings in seconds(values, start_s, count, asset):
            self.service.observe(readings)

    def at(self, s: float) -> datetime:
        return T0 + timedelta(seconds=s)

    def notified(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(notifications.c.audience, notifications.c.recipient).order_by(notifications.c.id)
            )
            return [(a, r) for a, r in rows]

    def act(self, ticket: str, action: TicketAction, at_s: float, **kw: Any) -> Any:
        return self.service.act(ticket, ActionRequest(action=action, **kw), self.at(at_s))
