"""Writing alerts: findings in, alerts opened, repeated, cleared, resolved; inside the caller's transaction.

Every decision comes from a pure module: the alert condition machine (``alerts.engine.conditions``), the
policy (level, pending period, hold, recurrence; ``alerts.engine.policy``) and inhibition
(``alerts.engine.inhibit``); this class loads the facts and writes the rows. One alert per (asset, finding
kind) fires at a time (a unique index keeps it). Pending findings are ``alerts.engine.pending``, resolving
``alerts.engine.resolving``.

Event time: an alert opens at its finding's timestamp. A finding that is older than the site's
``lateness_s`` when it arrives (a device replaying what it buffered) waits in ``pending_findings`` until
the replay catches up: if its clear arrives first (and is itself old), the incident is recorded as
``late`` — resolved, counted, nobody told; if it is still active once the data is current, it opens as
usual. A finding whose kind has a pending period waits the same way until it has held that long.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update

from alerts.engine import clocks, conditions, inhibit, maintenance, pending, policy, resolving
from alerts.engine.conditions import FindingChange, FindingEvent, FindingFacts, Suppression
from alerts.engine.db import alert_ref, alerts, last_alert_times, new_pk, pending_findings, ticket_alerts, utc
from alerts.engine.inhibit import Motion
from alerts.engine.maintenance import WindowChange
from alerts.engine.policy import KindPolicy
from alerts.engine.tickets import SYSTEM, TicketWriter
from facwatch.config import SlaSettings
from facwatch.model import (
    DATAPATH_ASSET,
    OWNERS_ASSET,
    AlertState,
    Asset,
    AssetKind,
    Deadlines,
    Finding,
    Level,
    Site,
    utc_from_ms,
)


@dataclass
class Changes:
    """What a transaction changed, to publish once it has committed."""

    alerts: set[int] = field(default_factory=set)
    tickets: set[int] = field(default_factory=set)


class AlertWriter:
    def __init__(self, site: Site, sla: SlaSettings, tickets: TicketWriter, motion: Motion) -> None:
        self.site = site
        self.sla = sla
        self.tickets = tickets
        self.motion = motion
        self._streams: dict[str, tuple[datetime, int]] = {}
        self._datapath = Asset(DATAPATH_ASSET, AssetKind.SYSTEM, "", "facwatch 数据通道 facwatch data path")
        """Per asset: when its newest data arrived (wall clock) and that data's event time (ms)."""
        self.maybe_pending = True
        self.maybe_cleared = True
        """Whether pending findings / cleared firing alerts may exist: True until a look finds none, and again
        once this process writes one. Only the engine's own findings write either, so a batch skips the
        look while both are False; ``recheck`` (every clock tick) looks anyway, in case another process
        wrote one (a site's takeover)."""
        # Built once: these two run on every batch (building a statement costs more than running it).
        self.pending_q = select(pending_findings).where(pending_findings.c.site == site.id)
        self.cleared_q = (
            select(alerts, ticket_alerts.c.ticket_id)
            .outerjoin(ticket_alerts, ticket_alerts.c.alert_id == alerts.c.id)
            .where(
                alerts.c.site == site.id,
                alerts.c.state == AlertState.FIRING.value,
                alerts.c.cleared_at.is_not(None),
            )
        )

    def asset_of(self, asset_id: str) -> Asset | None:
        """The site's asset, or the data path's pseudo asset (site-level findings such as a full spool)."""
        if asset_id == DATAPATH_ASSET:
            return self._datapath
        if asset_id == OWNERS_ASSET or asset_id.startswith(f"{OWNERS_ASSET}-"):  # the owners' voice
            building = asset_id.removeprefix(OWNERS_ASSET).removeprefix("-")
            if building and all(b.id != building for b in self.site.buildings):
                return None
            return Asset(asset_id, AssetKind.SYSTEM, building, f"业主群 owners' groups {building}".rstrip())
        return self.site.asset(asset_id)

    def policy_for(self, asset: Asset, kind: str, level: Level) -> KindPolicy:
        return policy.resolve(self.site.alerts, asset.id, kind, level, self.sla.resolve_hold_s)

    def late(self, when: datetime, wall_now: datetime | None) -> bool:
        return conditions.is_late(when, wall_now, self.site.alerts.lateness_s)

    # --- findings -------------------------------------------------------------------------------------

    def apply(self, conn: Connection, finding: Finding, changes: Changes, wall_now: datetime | None) -> None:
        asset = self.asset_of(finding.asset)
        if asset is None or finding.site != self.site.id:
            return
        when = utc_from_ms(finding.ts_ms)
        row = self._firing(conn, asset.id, finding.kind)
        if row is not None and finding.active and row.cleared_at is not None:
            # normal for its hold by this onset (a restart's catch-up, no tick between): it resolves first
            self.maybe_cleared = resolving.resolve_held(self, conn, when, changes)
            row = self._firing(conn, asset.id, finding.kind)
        facts = FindingFacts(
            firing=row is not None,
            cleared_at=None if row is None else utc(row.cleared_at),
            updated_at=None if row is None else utc(row.updated_at),
            pending_s=self.policy_for(asset, finding.kind, finding.level).pending_s
            if row is None and finding.active
            else 0.0,
            lateness_s=self.site.alerts.lateness_s,
            recorded_until=self._recorded_until(conn, asset.id, finding.kind)
            if row is None and finding.active
            else None,
        )
        change, _reason = conditions.decide_finding(facts, FindingEvent(finding.active, when), wall_now)
        if change is FindingChange.REPEAT and row is not None:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id)
                .values(count=alerts.c.count + 1, cleared_at=None, updated_at=when, value=finding.value)
            )
            changes.alerts.add(row.id)
        elif change is FindingChange.CLEAR and row is not None:
            conn.execute(update(alerts).where(alerts.c.id == row.id).values(cleared_at=when, updated_at=when))
            changes.alerts.add(row.id)
            self.maybe_cleared = True
        elif change is FindingChange.WAIT:
            pending.hold(conn, finding, when)
            self.maybe_pending = True
        elif change is FindingChange.OPEN:
            self.open(conn, finding, asset, when, changes, wall_now)
        elif change is FindingChange.END_PENDING:
            pending.end(self, conn, finding, asset, when, changes, wall_now)

    def _firing(self, conn: Connection, asset: str, kind: str) -> Any:
        return conn.execute(
            select(alerts)
            .where(
                alerts.c.site == self.site.id,
                alerts.c.asset == asset,
                alerts.c.kind == kind,
                alerts.c.state == AlertState.FIRING.value,
            )
            .with_for_update()
        ).first()

    def _recorded_until(self, conn: Connection, asset: str, kind: str) -> datetime | None:
        """The newest event time the last alert of (asset, kind) recorded: its clear, else its opening."""
        last = last_alert_times(conn, self.site.id, asset, kind)
        return None if last is None else max(t for t in last if t is not None)

    def seen(self, latest_ms: dict[str, int], wall_now: datetime | None) -> None:
        """Note the newest event time that just arrived per asset, and when (the wall clock)."""
        if wall_now is None:
            return
        for asset, ts_ms in latest_ms.items():
            self._streams[asset] = (wall_now, max(ts_ms, self._streams.get(asset, (wall_now, 0))[1]))

    def streams(self) -> dict[str, tuple[datetime, int]]:
        """The replay tracker (for the checkpoint, alerts/engine/checkpoint.py)."""
        return dict(self._streams)

    def restore_streams(self, streams: dict[str, tuple[datetime, int]]) -> None:
        for asset, (arrived, ts_ms) in streams.items():
            if asset not in self._streams:
                self._streams[asset] = (arrived, int(ts_ms))

    def replaying(self, wall_now: datetime | None) -> set[str]:
        """Assets whose data arrives now but is old: a replay in progress (bounded: one entry per asset)."""
        if wall_now is None:
            return set()
        bound = timedelta(seconds=self.site.alerts.lateness_s)
        return {
            asset
            for asset, (arrived, ts_ms) in self._streams.items()
            if wall_now - arrived <= bound and wall_now - utc_from_ms(ts_ms) > bound
        }

    def promote_pending(
        self, conn: Connection, event_now: datetime, wall_now: datetime | None, changes: Changes
    ) -> None:
        """Open the pending findings that have held for their period (``alerts.engine.pending``)."""
        if self.maybe_pending:
            self.maybe_pending = pending.promote(self, conn, event_now, wall_now, changes)

    # --- opening --------------------------------------------------------------------------------------

    def open(
        self,
        conn: Connection,
        finding: Finding,
        asset: Asset,
        when: datetime,
        changes: Changes,
        wall_now: datetime | None,
        *,
        cleared: datetime | None = None,
        own: Deadlines | None = None,
    ) -> int | None:
        """Open an alert for ``finding`` (with its ticket and notices, unless late or suppressed)."""
        if self._firing(conn, asset.id, finding.kind) is not None:
            return None
        kp = self.policy_for(asset, finding.kind, finding.level)
        predicted = _predicted_at(finding)
        summary = finding.summary
        if predicted is not None:
            local = predicted.astimezone(ZoneInfo(self.site.timezone))
            summary = f"{summary} (predicted to reach its limit on {local:%Y-%m-%d})"
        finding = dataclasses.replace(finding, level=kp.level, summary=summary)
        late = cleared is not None and self.late(cleared, wall_now)
        inhibitor = None if late else self._suppressor(conn, asset, finding.kind)
        named = None if inhibitor is None else f"{alert_ref(inhibitor[0])} {inhibitor[1]}"
        facts = conditions.SuppressionFacts(level=kp.level, inhibitor=named)
        suppression, reason = conditions.decide_suppression(facts, when)
        suppressed = suppression is Suppression.SUPPRESS
        window = None if late or suppressed else maintenance.window_at(conn, self.site, asset.id, when)
        wfacts = maintenance.WindowFacts(kp.level, finding.kind, window, finding.detail)
        during, why = maintenance.decide_window(wfacts, when)
        if during is WindowChange.DROP:  # the technician's own doing, as planned: no alert at all
            return None
        recorded = during is WindowChange.RECORD and window is not None
        noted = named if suppressed else None
        if recorded and window is not None:
            noted = maintenance.during_note(window)
        pk = new_pk(
            conn.execute(
                insert(alerts).values(
                    site=self.site.id,
                    asset=asset.id,
                    building=asset.building,
                    kind=finding.kind,
                    level=kp.level.value,
                    state=(AlertState.RESOLVED if late else AlertState.FIRING).value,
                    summary=summary,
                    opened_at=when,
                    updated_at=cleared if late else when,
                    cleared_at=cleared if late else None,
                    resolved_at=cleared if late else None,
                    count=1,
                    value=finding.value,
                    late=int(late),
                    predicted_at=predicted,
                    suppressed_by=noted,
                )
            )
        )
        changes.alerts.add(pk)
        if inhibitor is not None and suppressed:
            self._note_suppressed(conn, inhibitor[0], pk, finding, asset, when, changes)
        elif not late and not recorded:
            ticket_pk = self.tickets.open_or_join(conn, pk, finding, asset, when, own=own)
            changes.tickets.add(ticket_pk)
            if window is not None:  # a RED during maintenance: told as always, and the window noted
                note = f"alert {alert_ref(pk)} {why.value}: {maintenance.during_note(window)}"
                self.tickets.event(conn, ticket_pk, when, "during_maintenance", SYSTEM, note)
            if named is not None:  # a RED that the power failure would have explained: told, and why
                note = f"alert {alert_ref(pk)} {reason.value}, although {named} fires in building {asset.building}"
                self.tickets.event(conn, ticket_pk, when, "not_suppressed", SYSTEM, note)
        if inhibit.is_inhibitor(asset, finding.kind) and not late:
            self._possible_entrapments(conn, asset.building, finding, changes, wall_now)
        self._recurrence(conn, finding, asset, when, changes, wall_now)
        return pk

    def _suppressor(self, conn: Connection, asset: Asset, kind: str) -> tuple[int, str] | None:
        """The firing power-failure alert of the asset's building that explains this one, if any."""
        if not inhibit.suppressible(asset, kind):
            return None
        panels = [
            a.id for a in self.site.assets if a.building == asset.building and a.kind is AssetKind.POWER
        ]
        if not panels:
            return None
        row = conn.execute(
            select(alerts.c.id, alerts.c.kind)
            .where(
                alerts.c.site == self.site.id,
                alerts.c.asset.in_(panels),
                alerts.c.kind.in_(sorted(inhibit.INHIBITORS)),
                alerts.c.state == AlertState.FIRING.value,
                alerts.c.cleared_at.is_(None),  # the power is back (holding): it explains nothing new
            )
            .order_by(alerts.c.id)
            .limit(1)
        ).first()
        return None if row is None else (int(row.id), str(row.kind))

    def _note_suppressed(
        self,
        conn: Connection,
        by: int,
        pk: int,
        finding: Finding,
        asset: Asset,
        when: datetime,
        changes: Changes,
    ) -> None:
        ticket_pk = conn.execute(
            select(ticket_alerts.c.ticket_id).where(ticket_alerts.c.alert_id == by)
        ).scalar()
        if ticket_pk is not None:
            note = f"alert {alert_ref(pk)} suppressed ({finding.kind} on {asset.name}): explained by {alert_ref(by)}"
            self.tickets.event(conn, int(ticket_pk), when, "alert_suppressed", SYSTEM, note)
            changes.tickets.add(int(ticket_pk))

    def _possible_entrapments(
        self, conn: Connection, building: str, outage: Finding, changes: Changes, wall_now: datetime | None
    ) -> None:
        for elevator in self.site.assets:
            if elevator.building != building or elevator.kind is not AssetKind.ELEVATOR:
                continue
            speed = self.motion.moving_at(elevator.id, outage.ts_ms)
            if speed is None:
                continue
            finding = Finding(
                site=self.site.id,
                asset=elevator.id,
                kind=inhibit.POSSIBLE_ENTRAPMENT,
                ts_ms=outage.ts_ms,
                active=True,
                level=Level.RED,
                summary=f"Possible entrapment: the car was moving ({abs(speed):.1f} m/s) when the power failed",
                channel="speed_mps",
                value=speed,
            )
            self.open(conn, finding, elevator, utc_from_ms(outage.ts_ms), changes, wall_now)

    def _recurrence(
        self,
        conn: Connection,
        finding: Finding,
        asset: Asset,
        when: datetime,
        changes: Changes,
        wall_now: datetime | None,
    ) -> None:
        rules = self.site.alerts
        since = when - timedelta(days=rules.recurrence_window_days)
        count = conn.execute(
            select(func.count())
            .select_from(alerts)
            .where(
                alerts.c.site == self.site.id,
                alerts.c.asset == asset.id,
                alerts.c.kind == finding.kind,
                alerts.c.opened_at > since,
                alerts.c.opened_at <= when,
            )
        ).scalar_one()
        if not policy.recurrence_due(finding.kind, int(count), rules):
            return
        kind = policy.recurrence_kind(finding.kind)
        rectify = Finding(
            site=self.site.id,
            asset=asset.id,
            kind=kind,
            ts_ms=finding.ts_ms,
            active=True,
            level=Level.YELLOW,
            summary=policy.recurrence_summary(finding.kind, int(count), rules),
            detail={"count": float(count)},
        )
        level = self.policy_for(asset, kind, Level.YELLOW).level
        base = clocks.deadlines(level, when, self.sla)
        due = dataclasses.replace(base, fixed=when + timedelta(hours=rules.recurrence_deadline_h))
        self.open(conn, rectify, asset, when, changes, wall_now, own=due)

    # --- resolving ------------------------------------------------------------------------------------

    def resolve_held(self, conn: Connection, now: datetime, changes: Changes) -> None:
        """Resolve cleared alerts normal for their hold; hold flapping ones open (``alerts.engine.resolving``)."""
        if self.maybe_cleared:
            self.maybe_cleared = resolving.resolve_held(self, conn, now, changes)

    def recheck(self) -> None:
        """Look for pending findings and cleared alerts at the next chance, whoever wrote them."""
        self.maybe_pending = self.maybe_cleared = True


def _predicted_at(finding: Finding) -> datetime | None:
    if not finding.kind.endswith(policy.PREDICTED_SUFFIX):
        return None
    at_ms = finding.detail.get("predicted_at_ms")
    return None if at_ms is None else utc_from_ms(int(at_ms))


__all__ = ["AlertWriter", "Changes"]
