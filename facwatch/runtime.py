"""One site's running parts: the seam where a process takes a site on and gives it up.

    SiteRuntime(site) ── start() ──► intake (findings-<site>.db) ─► restore ─► gateway (<prefix>-<site>)
                                     loops: tick (SLA clocks, chat), notify (outbox), checkpoint, datapath
                                     mqtt-alerts:<site> reader (the alert topic, fed from the event log)
                     ── stop() ───► alert-topic reader ─► gateway drained and disconnected (the broker
                                     keeps the session) ─► intake committed ─► a last tick, delivery and
                                     checkpoint (``site.stopped``: each phase's ms, what is left unfinished)
                     ── close() ──► the telemetry store released (the process ends)

What every site shares lives in ``Shared`` (the state database, the event bus, the dead letters, the
settings); the composition root (facwatch.app) builds one ``SiteRuntime`` per site. ``start`` and ``stop``
may alternate any number of times (a worker that wins a site's lease starts it, one that loses it stops it);
the alert service stays, so the API can read and act on the site while nobody runs it here.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import structlog
from sqlalchemy import Connection, Engine

from alerts.engine import eventlog
from alerts.engine.chat import CATCH_UP_S, ChatService
from alerts.engine.checkpoint import Checkpointer
from alerts.engine.eventlog import LogReader
from alerts.engine.events import Event, EventBus
from alerts.engine.intake import Intake, Judgement
from alerts.engine.service import AlertService
from alerts.notify.chat_replies import tell_chat_groups
from alerts.notify.direct import tell_directly
from alerts.notify.messages import Templates
from alerts.notify.outbox import Dispatcher, OutboxNotifier, fallback_person
from alerts.notify.reporters import tell_reporters
from alerts.notify.reports.publish import Publisher
from alerts.notify.reports.service import Reports
from api import datapath
from facwatch.clock import Clock
from facwatch.config import Settings
from facwatch.model import DATAPATH_ASSET, Finding, Reading, Site, utc_from_ms
from facwatch.stopping import stop_in_order
from gateway import topics
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.factory import open_telemetry

log = structlog.get_logger("facwatch.runtime")

TICK_S = 0.5
REPORTS_CHECK_S = 300.0
"""How often a site looks for owners' reports that are due (docs/reports.md); each goes out once."""
CHAT_TICK_S = 60.0
DATAPATH_REPORT_S = 5.0
"""How often the gateway's process writes its data-path figures for the API processes."""
MQTT_ACK_S = 5.0
"""How long the alert-topic reader waits for the broker's acknowledgement before it tries the batch again."""
BACKLOG_FIRST_S = 10.0
"""How long a start waits for what an earlier run left queued to be committed before the restore's replay."""


@dataclass(frozen=True, slots=True)
class Shared:
    """What every site of a process uses: built once by the composition root."""

    settings: Settings
    clock: Clock
    engine: Engine
    bus: EventBus
    dead_letters: DeadLetterStore
    parts: frozenset[str]
    templates: Templates
    tell_fallback: Callable[[str, str], bool] | None = None
    """How the fallback person is told of a state-database outage; default: apprise via alerts.notify.direct."""
    fencing: Callable[[str], Callable[[Connection], None] | None] | None = None
    """A site's fence for its engine's writes (facwatch/worker.py, leases); None: no fence (one owner)."""
    holds: Callable[[str], bool] | None = None
    """Whether this process holds a site now (its gateway acknowledges only then); None: always (one owner)."""
    epoch: Callable[[str], int | None] | None = None
    """The lease epoch this process holds a site under (None: not held); None: no leases (one owner)."""


def site_file(configured: Path | None, default: Path, site: str, single: bool) -> Path:
    """A site's own local file: the configured or default path, with ``-<site>`` before the suffix unless the
    site is the one named by ``site =`` (whose files keep the one-site names)."""
    base = configured or default
    return base if single else base.with_name(f"{base.stem}-{site}{base.suffix}")


def _site_settings(settings: Settings, site: str, single: bool) -> Settings:
    """The settings with this site's own spool file (two sites never share a spool)."""
    if single:
        return settings
    spool = settings.telemetry.spool
    path = site_file(spool.path, settings.data_dir / "spool.db", site, single)
    telemetry = settings.telemetry.model_copy(update={"spool": spool.model_copy(update={"path": path})})
    return settings.model_copy(update={"telemetry": telemetry})


class SiteRuntime:
    """Every running part of one site in this process. ``start``/``stop`` any number of times, ``close`` once."""

    def __init__(self, shared: Shared, site: Site, *, single: bool = True) -> None:
        self.shared, self.site, self.single = shared, site, single
        settings = shared.settings
        self.settings = _site_settings(settings, site.id, single)
        self.telemetry = open_telemetry(self.settings, site, clock=shared.clock, on_finding=self._on_finding)
        self.store = self.telemetry.reader
        notifier = OutboxNotifier(site, settings=settings.notify, templates=shared.templates)
        fencing = None if shared.fencing is None else shared.fencing(site.id)
        self.alerts = AlertService(
            shared.engine, site, settings.sla, shared.bus, notifier=notifier, fencing=fencing
        )
        self.checkpoint = Checkpointer(self.alerts, self.store)
        self.reports = Reports(
            shared.engine, site, shared.settings.reports, shared.settings.sla, telemetry=self.store
        )
        self.intake: Intake | None = None
        self.gateway: Gateway | None = None
        self.dispatcher: Dispatcher | None = None
        self.mqtt_reader: LogReader | None = None
        self._stop = threading.Event()
        self._stopping = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._telemetry_started = False
        self._chat: ChatService | None = None
        self._chat_due = 0.0
        self._chat_look = 0.0
        self.tick_began: float | None = None  # monotonic, while a tick of the SLA clocks runs
        self._log = log.bind(site=site.id)
        shared.bus.on_wake(self._wake_reader)

    def tick_running_s(self) -> float | None:
        """How long the SLA clocks' current tick has run (None between ticks): facwatch/watchdog.py."""
        began = self.tick_began
        return None if began is None or not self.running else time.monotonic() - began

    @property
    def running(self) -> bool:
        return self.intake is not None or self.gateway is not None

    @property
    def intake_path(self) -> Path:
        conf = self.shared.settings
        return site_file(conf.intake.path, conf.data_dir / "findings.db", self.site.id, self.single)

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the site on: what an earlier owner left queued first, restored detector state, then the
        gateway's persistent session (which the broker kept while nobody consumed it), then the loops."""
        if self.running:
            return
        parts, alerting = self.shared.parts, "alerts" in self.shared.parts
        self._stop = threading.Event()
        self._threads = []
        if alerting:
            # The epoch each judgement and checkpoint is stored with (0: the lease was lost before the start).
            epoch = None if self.shared.epoch is None else (self.shared.epoch(self.site.id) or 0)
            self.checkpoint.epoch = epoch
            self.intake = self._new_intake(epoch)
            # No checkpoint past a judgement the state database does not have yet (the clean stop's too).
            self.checkpoint.uncommitted = self.intake.uncommitted
            self.intake.start()  # what an earlier run left queued is committed before anything new
            self._backlog_first()
            self._restore()  # before the first new reading is judged
            self.dispatcher = self._new_dispatcher()
        if "gateway" in parts:
            self.gateway = Gateway(
                self.settings.mqtt,
                self.site,
                self.telemetry.sink,
                self.shared.dead_letters,
                on_batch=self._on_batch if alerting else None,
                on_findings=self._on_gateway_findings if alerting else None,
                clock=self.shared.clock,
                session_expiry_s=self.settings.mqtt.session_expiry_s,
                holds=None
                if self.shared.holds is None
                else functools.partial(self.shared.holds, self.site.id),
            )
            if not self._telemetry_started:
                self.telemetry.start()
                self._telemetry_started = True
            self.gateway.start()
            self.mqtt_reader = LogReader(self.shared.engine, f"mqtt-alerts:{self.site.id}", self._publish)
            self.mqtt_reader.start()
            self._spawn("datapath", self._datapath_loop)
        if alerting:
            self._spawn("ticker", self._tick_loop)
            # Its own thread: a slow notification receiver never delays the SLA clocks.
            self._spawn("notify", self._notify_loop)
            self._spawn("checkpoint", self._checkpoint_loop)
            self._spawn("reports", self._reports_loop)
        self._log.info("site.started", parts=sorted(parts))

    def stop(self) -> None:
        """Give the site up, in the order of the data flow: stop publishing alert changes and reading (what is
        not acknowledged stays with the broker), commit what was judged, then a last look at the clocks, the
        outbox and the checkpoint. Safe to call from two threads: the second returns at once.

        ``site.stopped`` gives each phase's milliseconds (``ms``) and what could not be finished
        (``unfinished``: findings left in the local queue for the next start, a last step that failed)."""
        if not self.running:
            return
        if not self._stopping.acquire(blocking=False):
            # another thread stops it already (a worker's lease keeper, still at it when the process ends)
            self._log.warning("site.stop_in_progress")
            return
        try:
            stop_in_order(self)
        finally:
            self._stopping.release()

    def close(self) -> None:
        """Release the telemetry store (after ``stop``; the process ends)."""
        self.stop()
        with contextlib.suppress(Exception):
            self.telemetry.close()

    def lag_s(self) -> float:
        """How far the engine is behind on this site: the age of the intake's oldest entry."""
        intake = self.intake
        return 0.0 if intake is None else intake.lag_s()

    # --- building ----------------------------------------------------------------------------------------

    def _new_intake(self, epoch: int | None) -> Intake:
        """Judged findings wait here (on local disk) until the state database has them; with leases, what an
        earlier tenure left is dropped when a later owner's checkpoint supersedes it (``intake_stale.superseded``)."""
        conf = self.shared.settings.intake
        return Intake(
            self.alerts,
            self.intake_path,
            site=self.site.id,
            clock=self.shared.clock,
            max_entries=conf.max_entries,
            tell_fallback=self.shared.tell_fallback or self.tell_fallback,
            tell_after_s=conf.tell_fallback_after_s,
            epoch=epoch,
            checkpoint_epoch=None if epoch is None else self.checkpoint.stored_epoch,
        )

    def _new_dispatcher(self) -> Dispatcher:
        """An undelivered RED becomes a finding of the alert engine, and goes to the fallback person."""
        return Dispatcher(
            self.shared.engine,
            site=self.site,
            settings=self.shared.settings.notify,
            templates=self.shared.templates,
            fallback=fallback_person(self.site),
            on_findings=self.alerts.observe_findings,
        )

    # --- wiring ------------------------------------------------------------------------------------------

    def _on_batch(self, readings: Sequence[Reading]) -> None:
        """Judge a batch before it is stored, and queue its findings durably (the gateway acks after)."""
        intake = self.intake
        if intake is None:
            raise RuntimeError(f"site {self.site.id} is not running here")
        # The wall clock tells a replay (old readings) from current data: alerts/engine/alerting.py.
        with (
            intake.judging() as judged
        ):  # uncommitted from the rules' taking it until queued: no checkpoint between
            intake.put(self.alerts.judge(readings, now=self.shared.clock.now(), judged=judged))

    def _queue_findings(self, findings: Sequence[Finding]) -> None:
        """Findings from outside the rules (presence, the data path), queued like the rules' own."""
        intake = self.intake
        if findings and intake is not None:
            intake.put(Judgement(tuple(findings), max(f.ts_ms for f in findings), None))

    def _on_finding(self, finding: Finding) -> None:
        """Data-path findings (the spool nearly full): logged, to the alert engine, on the event bus."""
        self._log.error("datapath", kind=finding.kind, active=finding.active, summary=finding.summary)
        self._queue_findings([finding])
        data = {
            "site": finding.site,
            "kind": finding.kind,
            "active": finding.active,
            "summary": finding.summary,
        }
        try:
            with self.shared.engine.begin() as conn:
                eventlog.append(conn, "datapath", finding.site, data, utc_from_ms(finding.ts_ms))
        except Exception:  # the state database may be what is failing: the log line above stays
            self._log.exception("datapath event not logged", kind=finding.kind)
            return
        self.shared.bus.wake()

    def _on_gateway_findings(self, findings: Sequence[Finding]) -> None:
        """Presence findings to the engine; the data path's (the broker lost) also to the log and the bus."""
        self._queue_findings([f for f in findings if f.asset != DATAPATH_ASSET])
        for finding in findings:
            if finding.asset == DATAPATH_ASSET:
                self._on_finding(finding)

    def tell_fallback(self, title: str, body: str) -> bool:
        """Tell the fallback person directly (apprise, outside the outbox, which lives in the state database)."""
        person = fallback_person(self.site)
        if person is None or not person.notify:
            self._log.error("no fallback person to tell", title=title)
            return False
        return tell_directly(list(person.notify), title, body, deadline_s=10)

    def _wake_reader(self) -> None:
        reader = self.mqtt_reader
        if reader is not None:
            reader.wake()

    def _publish(self, conn: Connection, batch: Sequence[Event]) -> None:
        """The MQTT alert topic, fed from the event log (this site's alerts; at least once): the reader's
        cursor moves only once the broker has acknowledged every message of the batch."""
        gateway = self.gateway
        if gateway is None:
            raise RuntimeError("no gateway to publish alert changes with")
        sent = []
        for event in batch:
            if event.type != "alert" or event.site != self.site.id:
                continue
            asset = str(event.data.get("asset", ""))
            if asset:
                payload = orjson.dumps(dict(event.data))
                sent.append(gateway.publish(topics.alerts(event.site, asset), payload, qos=1))
        for info in sent:
            info.wait_for_publish(MQTT_ACK_S)  # raises when not sent: the batch is read again later
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge alert changes within {MQTT_ACK_S:g} s")

    def _backlog_first(self) -> None:
        """Wait (bounded; not while the state database is away) for the earlier run's queue to be committed:
        the restore's replay judges the same readings again and, first, opened their alert without the
        ticket's "opened late (facwatch restarted)" note (tests/reliability/test_intake_crash.py)."""
        intake, deadline = self.intake, time.monotonic() + BACKLOG_FIRST_S
        while intake is not None and intake.backlog() and not intake.down_s() and time.monotonic() < deadline:
            time.sleep(0.02)

    # --- loops -------------------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"facwatch-{name}-{self.site.id}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self._tick_once()

    def _tick_once(self) -> bool:
        """A tick of the SLA clocks (and, now and then, the owners' chat ladder); False when it failed."""
        now = self.shared.clock.now()
        ticked = True
        self.tick_began = time.monotonic()
        try:
            self.alerts.tick(now)
        except Exception:
            self._log.exception("tick failed")
            ticked = False
        finally:
            self.tick_began = None
        if self.site.chat.groups and time.monotonic() >= self._chat_look:
            self._chat_look = time.monotonic() + CATCH_UP_S
            try:  # the owners' messages an API replica kept; each minute the ladder at now, old text forgotten
                if self._chat is None:
                    self._chat = ChatService.build(self.shared.engine, self.site, self.alerts)
                if time.monotonic() >= self._chat_due:
                    self._chat_due = time.monotonic() + CHAT_TICK_S
                    self._chat.tick(now)
                elif self._chat.catch_up(now):  # judged some: more may wait, look again at the next tick
                    self._chat_look = time.monotonic()
            except Exception:
                self._log.exception("chat tick failed")
        return ticked

    def _notify_loop(self) -> None:
        dispatcher = self.dispatcher
        while dispatcher is not None and not self._stop.wait(TICK_S):
            self._deliver_once(dispatcher)

    def _deliver_once(self, dispatcher: Dispatcher) -> bool:
        try:
            now = self.shared.clock.now()
            notify = self.shared.settings.notify
            quiet = (notify.quiet_start, notify.quiet_end) if notify.quiet_hours else None
            tell_reporters(self.shared.engine, self.site, now, quiet)  # owners who reported through the page
            tell_chat_groups(
                self.shared.engine, self.site, now, notify, self.shared.templates
            )  # acks in groups
            dispatcher.deliver_pending(now)
        except Exception:
            self._log.exception("notification delivery failed")
            return False
        return True

    def _restore(self) -> None:
        """Detector state from the checkpoint and the store's recent history (alerts/engine/checkpoint.py)."""
        try:
            self.checkpoint.restore(self.shared.clock.now())
        except Exception:
            self._log.exception("restore failed: detection starts fresh")

    def _reports_loop(self) -> None:
        publisher = Publisher(self.reports, self.shared.settings.notify)
        while not self._stop.wait(REPORTS_CHECK_S):
            try:
                publisher.run(self.shared.clock.now())
            except Exception:
                log.exception("owners' reports failed")

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self.checkpoint.every_s):
            self._checkpoint_once()

    def _checkpoint_once(self) -> bool:
        try:
            self.checkpoint.write(self.shared.clock.now())
        except Exception:
            self._log.exception("checkpoint failed")
            return False
        return True

    def _datapath_loop(self) -> None:
        """The gateway's figures to the state database, for every API process (api/datapath.py)."""
        previous: tuple[datetime, float] | None = None
        while True:
            now = self.shared.clock.now()
            figures = datapath.measure(previous, now, self.site.id)
            previous = (now, figures.readings_total)
            try:
                datapath.report(self.shared.engine, self.site.id, figures, now)
            except Exception as exc:
                self._log.warning("datapath report failed", error=f"{type(exc).__name__}: {exc}")
            if self._stop.wait(DATAPATH_REPORT_S):
                return
