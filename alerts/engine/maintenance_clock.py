"""The maintenance clock (the shell around ``alerts.engine.maintenance``), run on the engine's clock tick.

Each run (at most every ``EVERY`` of the clock's time) it
- judges every plan (``decide_plan``) and turns a change into a finding that the alert writer applies like
  any other: an overdue visit or an expiring certificate opens a YELLOW alert (and its ticket); the visit
  or the renewed certificate clears it, and it resolves after its hold;
- tells the owners of a building about its windows the day before and when they are over, through the
  notifier's ``announce`` when it has one (``alerts.notify.outbox.OutboxNotifier``); and, when one of the
  API's windows they were told of is cancelled before it began or moved, that it is (``_changes``: the
  day-before notices in the outbox are what they were told).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection, select, update

from alerts.engine import arrival_db, maintenance
from alerts.engine.db import alerts, notifications, tickets
from alerts.engine.maintenance import PLAN_KINDS, Announcement, Announcer, Moment
from alerts.engine.maintenance_arrival import WINDOW_S, Arrival, Seen
from alerts.engine.maintenance_db import last_visits, stored_windows, windows_by_ref
from alerts.engine.tickets import SYSTEM
from facwatch.model import AlertState, Finding, Level, MaintenancePlan, Site, ms_from_utc

if TYPE_CHECKING:
    from alerts.engine.alerting import AlertWriter, Changes

log = structlog.get_logger("alerts.engine.maintenance")
EVERY = timedelta(seconds=60)
TOLD_WITHIN = timedelta(days=32)
"""Day-before notices looked at for a cancellation or a move: a notice goes out at most a day before its
window, which lasts at most 31 days; a move announced after that is not."""


class MaintenanceClock:
    def __init__(self, site: Site, alerts: AlertWriter, announcer: Announcer | None) -> None:
        self.site = site
        self.alerts = alerts
        self.announcer = announcer
        self._last_run: datetime | None = None

    def run(self, conn: Connection, now: datetime, changes: Changes) -> None:
        if self._last_run is not None and self._last_run <= now < self._last_run + EVERY:
            return
        self._last_run = now
        if self.site.maintenance.plans:
            self._plans(conn, now, changes)
        self._announce(conn, now)

    def _plans(self, conn: Connection, now: datetime, changes: Changes) -> None:
        last = last_visits(conn, self.site.id)
        firing = {  # (asset, kind) → whether the condition still holds (not normal again, holding)
            (str(r.asset), str(r.kind)): r.cleared_at is None
            for r in conn.execute(
                select(alerts.c.asset, alerts.c.kind, alerts.c.cleared_at).where(
                    alerts.c.site == self.site.id,
                    alerts.c.kind.in_(PLAN_KINDS),
                    alerts.c.state == AlertState.FIRING.value,
                )
            )
        }
        for plan in self.site.maintenance.plans:
            if self.site.asset(plan.asset) is None:
                continue
            status = maintenance.decide_plan(plan, last.get(plan.asset), now)
            for kind in PLAN_KINDS:
                active, holds = status.active(kind), firing.get((plan.asset, kind))
                if active is bool(holds) or (not active and holds is None):
                    continue  # nothing changed
                self.alerts.apply(conn, self._finding(plan, kind, active, status, now), changes, None)

    def _finding(
        self, plan: MaintenancePlan, kind: str, active: bool, status: maintenance.PlanStatus, now: datetime
    ) -> Finding:
        return Finding(
            site=self.site.id,
            asset=plan.asset,
            kind=kind,
            ts_ms=ms_from_utc(now),
            active=active,
            level=Level.YELLOW,
            summary=status.summary(kind, plan),
        )

    def _announce(self, conn: Connection, now: datetime) -> None:
        if self.announcer is None:
            return
        stored = stored_windows(conn, self.site.id, ending_after=now - maintenance.ANNOUNCE_DONE_WITHIN)
        due: list[Announcement] = []
        for window in (*self.site.maintenance.windows, *stored):
            asset = self.site.asset(window.asset)
            if asset is None:
                continue
            for moment in maintenance.due_announcements(window, now):
                key = f"maint:{self.site.id}:{window.ref}:{window.start:%Y%m%dT%H%M}:{moment.value}"
                company = self.site.maintenance.company(window.company)
                at = window.end if moment is Moment.DONE else now
                due.append(
                    Announcement(
                        key, self.site.id, moment, window, asset, company.name if company else "", at
                    )
                )
        due.extend(self._changes(conn, now))
        if due:
            added = self.announcer.announce(conn, due, now)  # the outbox's keys: each once
            if added:
                log.info("maintenance announced", site=self.site.id, added=added)

    def _changes(self, conn: Connection, now: datetime) -> list[Announcement]:
        """The API's windows whose owners were told (a day-before notice in the outbox) and that were
        cancelled or moved since: what to tell them (each once: the outbox's keys)."""
        prefix = f"maint:{self.site.id}:"
        keys = conn.execute(
            select(notifications.c.key).where(
                notifications.c.key.like(f"{prefix}W-%:{Moment.PLANNED.value}:%"),
                notifications.c.created_at >= now - TOLD_WITHIN,
            )
        ).scalars()
        told: set[maintenance.Told] = set()
        for key in keys:
            ref, start, *_ = str(key)[len(prefix) :].split(":")
            with contextlib.suppress(ValueError):
                told.add(maintenance.Told(ref, datetime.strptime(start, "%Y%m%dT%H%M").replace(tzinfo=UTC)))
        if not told:
            return []
        found = windows_by_ref(conn, self.site.id, sorted({t.ref for t in told}))
        out: list[Announcement] = []
        for t in sorted(told, key=lambda t: (t.ref, t.start)):
            if t.ref not in found or (asset := self.site.asset(found[t.ref][0].asset)) is None:
                continue
            window, cancelled_at = found[t.ref]
            moment, _reason = maintenance.decide_change(t, window, cancelled_at, now)
            if moment is None:
                continue
            company = self.site.maintenance.company(window.company)
            out.append(
                Announcement(
                    maintenance.change_key(self.site.id, window, moment, now),
                    self.site.id,
                    moment,
                    window,
                    asset,
                    company.name if company else "",
                    now,
                    was=t.start,
                )
            )
        return out

    def corroborate(self, conn: Connection, fresh: Sequence[Seen], changes: Changes) -> None:
        """Keep the signs the tick drained (``arrival_db``: a restart does not forget them), and upgrade the
        check-ins shown by the code only that a sign on their asset now corroborates (the sign came after)."""
        arrival_db.keep(conn, self.site.id, fresh)
        window = timedelta(seconds=WINDOW_S)
        for seen in fresh:
            rows = conn.execute(
                select(tickets.c.id, tickets.c.on_site_at).where(
                    tickets.c.site == self.site.id,
                    tickets.c.asset == seen.asset,
                    tickets.c.arrival == Arrival.CODE.value,
                    tickets.c.on_site_at >= seen.at - window,
                    tickets.c.on_site_at <= seen.at + window,
                )
            ).all()
            for row in rows:
                conn.execute(
                    update(tickets).where(tickets.c.id == row.id).values(arrival=Arrival.CORROBORATED.value)
                )
                note = f"arrival corroborated: {seen.sign.value} at {seen.at.isoformat()}"
                self.alerts.tickets.event(conn, row.id, seen.at, "arrival_corroborated", SYSTEM, note)
                changes.tickets.add(int(row.id))
