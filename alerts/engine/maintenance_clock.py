"""The maintenance clock (the shell around ``alerts.engine.maintenance``), run on the engine's clock tick.

Each run (at most every ``EVERY`` of the clock's time) it
- judges every plan (``decide_plan``) and turns a change into a finding that the alert writer applies like
  any other: an overdue visit or an expiring certificate opens a YELLOW alert (and its ticket); the visit
  or the renewed certificate clears it, and it resolves after its hold;
- tells the owners of a building about its windows the day before and when they are over, through the
  notifier's ``announce`` when it has one (``alerts.notify.outbox.OutboxNotifier``); and, when a window
  they were told of is cancelled before it began or moved (one of the API's, or the site file's changed in
  the file), that it is (``_changes``: the day-before notices in the outbox are what they were told; one
  still held for the morning is withdrawn instead, and nobody hears of the change).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Connection, select, update

from alerts.engine import arrival_db, maintenance
from alerts.engine.db import alerts, notifications, tickets
from alerts.engine.maintenance import PLAN_KINDS, Announcement, Announcer, Moment, Told
from alerts.engine.maintenance_arrival import WINDOW_S, Arrival, Seen
from alerts.engine.maintenance_db import last_visits, stored_windows, windows_by_ref
from alerts.engine.tickets import SYSTEM
from facwatch.model import AlertState, Finding, Level, MaintenancePlan, MaintenanceWindow, Site, ms_from_utc

if TYPE_CHECKING:
    from alerts.engine.alerting import AlertWriter, Changes

log = structlog.get_logger("alerts.engine.maintenance")
EVERY = timedelta(seconds=60)
TOLD_WITHIN = timedelta(days=32)
"""Day-before notices looked at for a cancellation or a move: a notice goes out at most a day before its
window, which lasts at most 31 days; a move announced after that is not."""
HELD, WITHDRAWN = "held", "withdrawn"
"""The outbox's statuses of a notification waiting for the morning, and of one withdrawn before it went."""


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


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
        told = self._told(conn, now)
        said = {  # what the owners were told of the site file's windows, whatever the ref then
            (t.asset, t.start, moment)
            for t, moment, _key, status in told
            if status != WITHDRAWN and maintenance.from_site_file(t.ref)
        }
        stored = stored_windows(conn, self.site.id, ending_after=now - maintenance.ANNOUNCE_DONE_WITHIN)
        due: list[Announcement] = []
        for window in (*self.site.maintenance.windows, *stored):
            asset = self.site.asset(window.asset)
            if asset is None:
                continue
            for moment in maintenance.due_announcements(window, now):
                if (
                    maintenance.from_site_file(window.ref)
                    and (window.asset, _minute(window.start), moment) in said
                ):
                    continue  # told under another ref (a ref added to the entry, or an older S-<n>)
                at = window.end if moment is Moment.DONE else now
                due.append(
                    self._announcement(
                        maintenance.window_key(self.site.id, window, moment), moment, window, at
                    )
                )
        # A change first: a move to within a day takes the day-before notice's key.
        due = [*self._changes(conn, told, now), *due]
        if due:
            added = self.announcer.announce(conn, due, now)  # the outbox's keys: each once
            if added:
                log.info("maintenance announced", site=self.site.id, added=added)

    def _announcement(
        self, key: str, moment: Moment, window: MaintenanceWindow, at: datetime, was: datetime | None = None
    ) -> Announcement:
        asset = self.site.asset(window.asset)
        assert asset is not None
        company = self.site.maintenance.company(window.company)
        return Announcement(
            key, self.site.id, moment, window, asset, company.name if company else "", at, was
        )

    def _told(self, conn: Connection, now: datetime) -> list[tuple[Told, Moment, str, str]]:
        """The announcements in the outbox from the last ``TOLD_WITHIN``: what was told, its key and status."""
        rows = conn.execute(
            select(notifications.c.key, notifications.c.asset, notifications.c.status).where(
                notifications.c.key.like(f"maint:{self.site.id}:%"),
                notifications.c.created_at >= now - TOLD_WITHIN,
            )
        )
        out = []
        for row in rows:
            parsed = maintenance.parse_key(self.site.id, str(row.key), str(row.asset or ""))
            if parsed is not None:
                out.append((*parsed, str(row.key), str(row.status)))
        return out

    def _changes(
        self, conn: Connection, told: Sequence[tuple[Told, Moment, str, str]], now: datetime
    ) -> list[Announcement]:
        """Windows whose owners were told (a day-before notice in the outbox) and that were cancelled or moved
        since (the API's; the site file's: changed in the file): what to tell them, each once (the outbox's
        keys). A notice still held for the morning (quiet hours) is withdrawn instead: nobody got it, so
        nobody hears of the change; a moved window's own day-before notice then tells the new time."""
        assert self.announcer is not None
        status = {key: st for _t, _m, key, st in told}
        planned: dict[tuple[str, datetime], tuple[Told, list[str]]] = {}
        for t, said, key, _st in told:
            if said is Moment.PLANNED:
                planned.setdefault((t.ref, t.start), (t, []))[1].append(key)
        api = sorted({ref for ref, _ in planned if not maintenance.from_site_file(ref)})
        found = windows_by_ref(conn, self.site.id, api) if api else {}
        out: list[Announcement] = []
        for (ref, _start), (t, keys) in sorted(planned.items()):
            if all(status[k] == WITHDRAWN for k in keys):
                continue  # nobody was told
            if maintenance.from_site_file(ref):
                window, moment, _reason = maintenance.decide_site_change(
                    t, self.site.maintenance.windows, now
                )
            elif ref in found:
                window, cancelled_at = found[ref]
                moment, _reason = maintenance.decide_change(t, window, cancelled_at, now)
            else:
                continue
            if moment is None or window is None or self.site.asset(window.asset) is None:
                continue
            current = _minute(window.start)
            if moment is Moment.MOVED and any(
                o.ref == ref and o.start == current and m is Moment.MOVED and status[k] != WITHDRAWN
                for o, m, k, _st in told
            ):
                continue  # told of the move already: the day-before notice reminds them as usual
            for other, _m, key, _st in told:  # what is held about this window and no longer true
                stale = moment is Moment.CANCELLED or other.start != current
                if other.ref == ref and status[key] == HELD and stale:
                    status[key] = WITHDRAWN if self.announcer.withdraw(conn, [key], now) else "released"
            if all(status[k] == WITHDRAWN for k in keys):
                log.info("maintenance notice withdrawn", site=self.site.id, ref=ref, moment=moment.value)
                continue
            key = maintenance.change_key(self.site.id, window, moment, now)
            out.append(self._announcement(key, moment, window, now, was=t.start))
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
