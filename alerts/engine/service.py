"""The alert engine's shell: readings in, alerts, tickets, SLA clocks and notifications out.

``observe`` runs the rules on a durable batch (event time = the readings' ts), applies the alert
lifecycle, opens or joins tickets, writes notifications to the outbox and appends ``alert`` / ``ticket``
events to the durable event log (``alerts.engine.eventlog``), all in one transaction, then wakes the log's
readers. ``tick(now)`` runs the SLA clocks and escalates; ``act`` applies
a person's ticket action. A lock serialises the three inside a process; row locks (PostgreSQL) and the
database's unique keys keep several processes honest.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, select, update

from alerts.detection.rules import Rules
from alerts.engine import conditions, eventlog, owner_tickets, reports, store
from alerts.engine.alerting import AlertWriter, Changes
from alerts.engine.db import (
    alerts,
    parse_ref,
    tickets,
    utc_now,
)
from alerts.engine.errors import CheckInRefused, NotFound, TooManyCheckIns
from alerts.engine.events import EventBus
from alerts.engine.inhibit import Motion
from alerts.engine.intake import Judgement, Late
from alerts.engine.maintenance import Announcer
from alerts.engine.maintenance_arrival import Signs
from alerts.engine.maintenance_clock import MaintenanceClock
from alerts.engine.notices import Notifier
from alerts.engine.ports import (
    ALL_ALERTS,
    ALL_TICKETS,
    ActionRequest,
    AlertQuery,
    IncidentCount,
    OwnerReport,
    SlaFigures,
    TicketQuery,
)
from alerts.engine.sweep import Sweeper
from alerts.engine.tickets import TicketWriter
from facwatch.config import SlaSettings
from facwatch.model import (
    Alert,
    Finding,
    Level,
    Page,
    Reading,
    Site,
    Ticket,
    TicketAction,
    TicketState,
    ms_from_utc,
    utc_from_ms,
)

SYSTEM = "system"
T = TypeVar("T")


class AlertService:
    """Implements ``alerts.engine.ports.AlertsApi`` on the state database."""

    def __init__(
        self,
        engine: Engine,
        site: Site,
        sla: SlaSettings,
        bus: EventBus,
        notifier: Notifier,
        fencing: Callable[[Connection], None] | None = None,
    ) -> None:
        """``fencing``: run first in every write transaction (``LeaseKeeper.fencing(site)``); it raises
        ``alerts.engine.leases.StaleOwner`` when this worker no longer holds the site, and nothing is
        written. None (SQLite, one process owning every site): no check."""
        self.engine = engine
        self.fencing = fencing
        self.site = site
        self.sla = sla
        self.bus = bus
        self.notifier = notifier
        self.rules = Rules(site)
        self.motion = Motion()
        self.signs = Signs()
        self.tickets = TicketWriter(site, sla, self.notifier)
        self.tickets.signs = self.signs
        self.alerts = AlertWriter(site, sla, self.tickets, self.motion)
        self.sweeper = Sweeper(site, sla, self.tickets, self.alerts, self.notifier)
        announcer = notifier if isinstance(notifier, Announcer) else None
        self.maintenance = MaintenanceClock(site, self.alerts, announcer)
        self._lock = threading.Lock()
        self._judging = threading.Lock()
        """The rules' in-memory state: never held across a database call."""

    # --- readings ---------------------------------------------------------------------------------------

    def observe(self, readings: Sequence[Reading], now: datetime | None = None) -> None:
        """Run the rules on a durable batch and apply their findings at the readings' own time.

        ``now`` is the wall clock when the batch arrived: readings older than the site's ``lateness_s``
        are a replay, whose conditions that cleared long ago are recorded but not dispatched. Without it
        the batch is taken as current. The same as ``commit(judge(readings, now))``.
        """
        judgement = self.judge(readings, now)
        if judgement is not None:
            self.commit(judgement)

    def judge(
        self,
        readings: Sequence[Reading],
        now: datetime | None = None,
        *,
        judged: Callable[[], None] | None = None,
    ) -> Judgement | None:
        """Run the rules on a batch in memory (no database): the findings it causes, to ``commit`` later.

        Judging never waits for the state database (it has its own lock), so detection keeps up while the
        database is slow or gone; the caller keeps the judgement durable until it is committed.
        None for an empty batch. ``judged`` is called under the judging lock, as the rules take the batch:
        from then on the checkpoint's copy holds its effect (``Intake.judging``).
        """
        if not readings:
            return None
        # No clock moves past the wall clock: a reading dated later counts as of ``now``.
        now_ms = None if now is None else ms_from_utc(utc_now(now))
        cap = now_ms if now_ms is not None else max(r.ts_ms for r in readings)
        latest: dict[str, int] = {}
        for r in readings:
            latest[r.asset] = max(min(r.ts_ms, cap), latest.get(r.asset, 0))
        with self._judging:
            if judged is not None:
                judged()
            self.motion.observe(readings, cap)
            self.signs.observe(readings)
            findings = tuple(self.rules.observe(readings, now_ms))
        return Judgement(findings, max(latest.values()), now_ms, tuple(sorted(latest.items())))

    def commit(self, judgement: Judgement, late: Late | None = None) -> None:
        """Apply a judgement's findings in one transaction, at its event time and with its wall clock.

        ``late``: why it is committed late (the state database was unreachable); each ticket it opens or
        joins gets a timeline entry saying so. Raises whatever the database raises: nothing is applied.
        """
        wall = None if judgement.wall_ms is None else utc_from_ms(judgement.wall_ms)
        with self._lock:
            if judgement.latest:
                self.alerts.seen(dict(judgement.latest), wall)
            self._take(judgement.findings, utc_from_ms(judgement.event_ms), wall, late)

    def under_lock(self, work: Callable[[], T]) -> T:
        """Run ``work`` while no batch is judged or committed: the checkpoint (alerts/engine/checkpoint.py)
        copies the rules, motion and replay tracker at one moment. The only place that holds both locks, and
        in this order: ``_lock`` first (waiting for a slow commit does not hold detection up), then
        ``_judging``. Everything else takes one at a time; crossed, the two deadlocked and froze the site
        (``tests/alerts/test_lock_order.py``)."""
        with self._lock, self._judging:
            return work()

    def observe_findings(self, findings: Sequence[Finding], now: datetime | None = None) -> None:
        """Findings from outside the rules: device presence and the data path (gateway), undelivered RED
        notifications (dispatcher). Applied like the rules' own, at their event time."""
        if not findings:
            return
        with self._lock:
            self._take(findings, utc_from_ms(max(f.ts_ms for f in findings)), now)

    def _take(
        self,
        findings: Sequence[Finding],
        event_now: datetime,
        now: datetime | None,
        late: Late | None = None,
    ) -> None:
        wall = None if now is None else utc_now(now)
        changes = Changes()
        with self.begin() as conn:
            for finding in sorted(findings, key=lambda f: f.ts_ms):
                self.alerts.apply(conn, finding, changes, wall)
            self.alerts.promote_pending(conn, event_now, wall, changes)
            # A late commit: the tickets that alerts opened or joined just now (not those resolved below).
            if late is not None:
                for ticket_pk in sorted(changes.tickets):
                    self.tickets.event(conn, ticket_pk, utc_now(late.at), "opened_late", SYSTEM, late.reason)
            self.alerts.resolve_held(conn, event_now, changes)
            self._record(conn, changes, event_now)
        self._wake(changes)

    # --- clocks -----------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Run the clocks: escalate what ran out (again every ``escalation_repeat_s`` until someone acts),
        open pending alerts that have held, resolve alerts normal for their hold, close resolved tickets
        whose asset stayed normal for ``close_hold_s``, and ask the owners a day after resolution."""
        now = utc_now(now)
        # One lock at a time (only ``under_lock`` holds both): the judging lock taken inside the state lock
        # deadlocked with a checkpoint's copy, holding the tick's transaction open.
        with self._judging:
            fresh = self.signs.drain()
        try:
            with self._lock:
                changes = Changes()
                with self.begin() as conn:
                    self.sweeper.run(conn, now, changes)
                    self.maintenance.run(conn, now, changes)
                    self.maintenance.corroborate(conn, fresh, changes)
                    self._record(conn, changes, now)
                self._wake(changes)
        except BaseException:
            with self._judging:  # not written: the next tick corroborates them
                self.signs.give_back(fresh)
            raise

    # --- people -----------------------------------------------------------------------------------------

    def act(self, ticket_id: str, request: ActionRequest, now: datetime) -> Ticket:
        pk = parse_ref(ticket_id, "T")
        if pk is None:
            raise NotFound(f"no ticket {ticket_id}")
        now = utc_now(now)
        with self._lock:
            changes = Changes(tickets={pk})
            refused: CheckInRefused | TooManyCheckIns | None = None
            with self.people_begin() as conn:
                row = conn.execute(select(tickets).where(tickets.c.id == pk).with_for_update()).first()
                if row is None:
                    raise NotFound(f"no ticket {ticket_id}")
                try:
                    changes.alerts |= self.tickets.act(conn, row, request, now)
                except (CheckInRefused, TooManyCheckIns) as exc:  # refused, and kept in the timeline
                    self.tickets.refused(conn, pk, request, exc, now)
                    refused = exc
                self._record(conn, changes, now)
                ticket = store.get_ticket(conn, pk)
            self._wake(changes)
            if refused is not None:
                raise refused
            return ticket

    # --- queries (AlertsApi) ------------------------------------------------------------------------------

    def list_alerts(self, query: AlertQuery = ALL_ALERTS) -> Page[Alert]:
        with self.engine.connect() as conn:
            return store.list_alerts(conn, query)

    def get_alert(self, alert_id: str) -> Alert:
        with self.engine.connect() as conn:
            return store.get_alert_ref(conn, alert_id)

    def list_tickets(self, query: TicketQuery = ALL_TICKETS) -> Page[Ticket]:
        with self.engine.connect() as conn:
            return store.list_tickets(conn, query)

    def get_ticket(self, ticket_id: str) -> Ticket:
        pk = parse_ref(ticket_id, "T")
        if pk is None:
            raise NotFound(f"no ticket {ticket_id}")
        with self.engine.connect() as conn:
            return store.get_ticket(conn, pk)

    def acknowledge_alert(self, alert_id: str, actor: str, now: datetime) -> Alert:
        """Acknowledge the alert; an open ticket of it is acknowledged too (its acknowledge clock stops).
        Acknowledging twice keeps the first acknowledgement."""
        pk = parse_ref(alert_id, "A")
        if pk is None:
            raise NotFound(f"no alert {alert_id}")
        now = utc_now(now)
        with self._lock:
            changes = Changes(alerts={pk})
            with self.people_begin() as conn:
                alert = store.get_alert(conn, pk)
                ticket_pk = None if alert.ticket_id is None else parse_ref(alert.ticket_id, "T")
                ticket = None
                if ticket_pk is not None:
                    ticket = conn.execute(
                        select(tickets).where(tickets.c.id == ticket_pk).with_for_update()
                    ).one()
                if ticket is not None and TicketState(ticket.state) in (
                    TicketState.OPEN,
                    TicketState.REOPENED,
                ):
                    request = ActionRequest(TicketAction.ACKNOWLEDGE, actor, note=f"via alert {alert_id}")
                    changes.alerts |= self.tickets.act(conn, ticket, request, now)
                    changes.tickets.add(ticket.id)
                elif alert.acknowledged_at is None:
                    conn.execute(
                        update(alerts)
                        .where(alerts.c.id == pk)
                        .values(acknowledged_at=now, acknowledged_by=actor, updated_at=now)
                    )
                    if ticket is not None:
                        self.tickets.event(conn, ticket.id, now, "alert_acknowledged", actor, alert_id)
                        changes.tickets.add(ticket.id)
                self._record(conn, changes, now)
                result = store.get_alert(conn, pk)
            self._wake(changes)
            return result

    def silence_alert(
        self, alert_id: str, *, until: datetime, reason: str, actor: str, now: datetime
    ) -> Alert:
        """Nobody is notified of this alert's ticket (escalations included) until ``until``; the silence
        and everything that happens meanwhile stay on the ticket's timeline."""
        pk = parse_ref(alert_id, "A")
        if pk is None:
            raise NotFound(f"no alert {alert_id}")
        now, until = utc_now(now), utc_now(until)
        if until <= now:
            raise ValueError("a silence must end in the future")
        if not reason.strip():
            raise ValueError("a silence needs a reason")
        with self._lock:
            changes = Changes(alerts={pk})
            with self.people_begin() as conn:
                alert = store.get_alert(conn, pk)
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == pk)
                    .values(
                        silenced_until=until, silence_reason=reason.strip(), silenced_by=actor, updated_at=now
                    )
                )
                if alert.ticket_id is not None:
                    ticket_pk = parse_ref(alert.ticket_id, "T")
                    assert ticket_pk is not None
                    note = f"{alert_id} silenced until {until.isoformat()}: {reason.strip()}"
                    if alert.level is Level.RED:
                        note += f"; {conditions.SilenceReason.RED_NEVER_SILENCED.value}"
                    self.tickets.event(conn, ticket_pk, now, "silenced", actor, note)
                    changes.tickets.add(ticket_pk)
                self._record(conn, changes, now)
                result = store.get_alert(conn, pk)
            self._wake(changes)
            return result

    def open_owner_ticket(self, report: OwnerReport, now: datetime) -> Ticket:
        now = utc_now(now)
        if report.site != self.site.id:
            raise ValueError(f"unknown site {report.site!r}")
        with self._lock:
            with self.people_begin() as conn:
                pk = owner_tickets.open_owner(self.tickets, conn, report, now)
                self._record(conn, Changes(tickets={pk}), now)
                ticket = store.get_ticket(conn, pk)
            self.bus.wake()
            return ticket

    def sla_report(self, *, site: str | None, since: datetime, until: datetime) -> list[SlaFigures]:
        with self.engine.connect() as conn:
            return reports.sla_figures(conn, site=site, since=utc_now(since), until=utc_now(until))

    def incident_report(
        self, *, site: str | None, since: datetime, until: datetime, period: str = "month"
    ) -> list[IncidentCount]:
        with self.engine.connect() as conn:
            return reports.incident_counts(
                conn,
                site=site,
                since=utc_now(since),
                until=utc_now(until),
                period=period,
                timezone=self.site.timezone,
            )

    # --- transactions and events --------------------------------------------------------------------

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """Every write transaction of the engine (the checkpoint's too): fenced first when the site is held
        through a lease."""
        with self.engine.begin() as conn:
            if self.fencing is not None:
                self.fencing(conn)
            yield conn

    @contextlib.contextmanager
    def people_begin(self) -> Iterator[Connection]:
        """A write that a person asked for through the API (an action on a ticket, an acknowledgement, a
        silence, an owner's report): not fenced. Any API replica makes these, whether or not its process
        holds the site (``--only api``, or ``--only worker,api`` for a site another worker holds); they are
        row-locked changes of stored tickets and alerts, not judgements, so they need no lease. The fence
        guards what only the site's owner may write: the judgements, the clocks and the checkpoint."""
        with self.engine.begin() as conn:
            yield conn

    def _record(self, conn: Connection, changes: Changes, now: datetime) -> None:
        """The changes as events of the log, in the changes' own transaction (the last writes in it)."""
        for pk in sorted(changes.alerts):
            alert = store.alert_json(store.get_alert(conn, pk))
            eventlog.append(conn, "alert", self.site.id, alert, now)
        for pk in sorted(changes.tickets):
            ticket = store.ticket_json(store.get_ticket(conn, pk))
            eventlog.append(conn, "ticket", self.site.id, ticket, now)

    def _wake(self, changes: Changes) -> None:
        if changes.alerts or changes.tickets:
            self.bus.wake()


__all__ = ["AlertService"]
