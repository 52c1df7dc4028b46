"""The composition root: builds every part from the settings, wires them, starts and stops them in order.

    broker ──► gateway ──► judge (rules) ──► findings queue ──► alert service ──► tickets, clocks, outbox
                  ├──► telemetry store (durable)           │   (fsync'd)   │                 └──► dispatcher ──► apprise
                  └──► dead letters                        │               └──► event bus ──► API (SSE, board), MQTT
                                       state database unreachable > 60 s ──► fallback person, directly

Nothing else imports every package. ``facwatch demo`` and ``facwatch run`` both build a ``System`` here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import Connection

from alerts.engine import eventlog
from alerts.engine.chat import ChatService
from alerts.engine.checkpoint import Checkpointer
from alerts.engine.eventlog import LogReader, LogTailer
from alerts.engine.events import Event, EventBus
from alerts.engine.intake import Intake, Judgement
from alerts.engine.service import AlertService
from alerts.notify.direct import tell_directly
from alerts.notify.messages import Templates
from alerts.notify.outbox import Dispatcher, OutboxNotifier, fallback_person
from alerts.notify.reporters import tell_reporters
from api import datapath
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from api.owner_setup import make_desk
from api.readiness import Check, Readiness, lag_probe, state_db_probe
from api.server import ServerHandle, serve
from api.targets import TargetPolicy
from facwatch.clock import Clock, WallClock
from facwatch.config import PARTS, Settings
from facwatch.model import DATAPATH_ASSET, Finding, Reading, Site, utc_from_ms
from facwatch.state import migrate, open_engine
from gateway import topics
from gateway.embedded import EmbeddedBroker
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.factory import open_telemetry

log = structlog.get_logger("facwatch.app")

TICK_S = 0.5
CHAT_TICK_S = 60.0
DATAPATH_REPORT_S = 5.0
"""How often the gateway's process writes its data-path figures for the API processes."""
MQTT_ACK_S = 5.0
"""How long the alert-topic reader waits for the broker's acknowledgement before it tries the batch again."""
ENGINE_LAG_LIMIT_S = 10.0
"""``/readyz`` fails while the alert engine is further behind its findings than this."""


@dataclass
class System:
    """Every running part of one facwatch process. Build with ``build``, then ``start`` and ``stop``."""

    settings: Settings
    site: Site
    clock: Clock
    parts: frozenset[str]
    bus: EventBus = field(default_factory=EventBus)
    broker: EmbeddedBroker | None = None
    gateway: Gateway | None = None
    api: ServerHandle | None = None
    engine_lag: Callable[[], float | None] | None = None
    """Seconds the alert engine is behind (for ``/readyz``); default: the age of the intake's oldest entry."""
    tell_fallback: Callable[[str, str], bool] | None = None
    """How the fallback person is told of a state-database outage; default: apprise via alerts.notify.direct."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _chat: ChatService | None = None
    _chat_due: float = 0.0
    _threads: list[threading.Thread] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(self.settings.state_url)
        migrate(self.engine)
        self.telemetry = open_telemetry(
            self.settings, self.site, clock=self.clock, on_finding=self._on_finding
        )
        self.store = self.telemetry.reader
        self.dead_letters = DeadLetterStore(self.settings.data_dir / "deadletters.db")
        self.tokens = TokenStore(self.engine)
        templates = Templates(self.settings.notify.template_dir)
        notifier = OutboxNotifier(self.site, settings=self.settings.notify, templates=templates)
        self.alerts = AlertService(self.engine, self.site, self.settings.sla, self.bus, notifier=notifier)
        # Judged findings wait here (on local disk) until the state database has them.
        intake = self.settings.intake
        self.intake = Intake(
            self.alerts,
            intake.path or self.settings.data_dir / "findings.db",
            site=self.site.id,
            clock=self.clock,
            max_entries=intake.max_entries,
            tell_fallback=self.tell_fallback or self._tell_fallback,
            tell_after_s=intake.tell_fallback_after_s,
        )
        # An undelivered RED becomes a finding of the alert engine, and goes to the fallback person.
        self.dispatcher = Dispatcher(
            self.engine,
            site=self.site,
            settings=self.settings.notify,
            templates=templates,
            fallback=fallback_person(self.site),
            on_findings=self.alerts.observe_findings,
        )
        self.checkpoint = Checkpointer(self.alerts, self.store)
        # The event log feeds this process's streams (tailer) and the MQTT alert topic (durable cursor).
        self.tailer = LogTailer(self.engine, self.bus)
        self.bus.on_wake(self.tailer.wake)
        self.mqtt_reader = LogReader(self.engine, f"mqtt-alerts:{self.site.id}", self._publish_alert_changes)
        self._closers += [self.telemetry.close, self.dead_letters.close, self.engine.dispose]

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self, *, embedded_broker: bool = False) -> None:
        if embedded_broker:
            self.broker = EmbeddedBroker()
            self.broker.start("127.0.0.1", _free_port(preferred=1883))
            # amqtt speaks MQTT 3.1.1 only: say so, rather than wait for an MQTT 5 connect to go unanswered.
            self.settings.mqtt.url = self.broker.url + "?protocol=3.1.1"
        if "alerts" in self.parts:
            self.intake.start()  # what an earlier run left queued is committed before anything new
            self._restore()  # before the first new reading is judged
        if "gateway" in self.parts:
            on_batch = self._on_batch if "alerts" in self.parts else None
            self.gateway = Gateway(
                self.settings.mqtt,
                self.site,
                self.telemetry.sink,
                self.dead_letters,
                on_batch=on_batch,
                on_findings=self._on_gateway_findings if "alerts" in self.parts else None,
                clock=self.clock,
            )
            self.telemetry.start()
            self.gateway.start()
            self.bus.on_wake(self.mqtt_reader.wake)
            self.mqtt_reader.start()
            self._spawn("datapath", self._datapath_loop)
        self.tailer.start()
        if "alerts" in self.parts:
            self._spawn("ticker", self._tick_loop)
            # Its own thread: a slow notification receiver never delays the SLA clocks.
            self._spawn("notify", self._notify_loop)
            self._spawn("checkpoint", self._checkpoint_loop)
        if "api" in self.parts:
            services = ApiServices(
                site=self.site,
                alerts=self.alerts,
                telemetry=self.store,
                dead_letters=self.dead_letters,
                tokens=self.tokens,
                bus=self.bus,
                clock=self.clock,
                readiness=self._readiness(),
                event_log=True,
            )
            api = self.settings.api
            targets = TargetPolicy(api.webhook_allow_http, tuple(api.webhook_allow_hosts))
            desk = make_desk(self.settings, self.site, self.alerts, self.tokens.engine)
            app = create_app(services, webhook_targets=targets, owner_desk=desk)
            self.api = serve(app, self.settings.api.host, self.settings.api.port)
        log.info("started", parts=sorted(self.parts), site=self.site.id, broker=self.settings.mqtt.url)

    def stop(self) -> None:
        """Stop in reverse order of data flow: intake first, so that everything taken in is stored and judged."""
        self._stop.set()
        if self.gateway is not None:
            self.gateway.stop()
        self.intake.stop()  # commits what is queued while the database answers; the file keeps the rest
        for thread in self._threads:
            thread.join(timeout=10)
        if "alerts" in self.parts:
            self._tick_once()  # a last look at the clocks and the outbox
            self._deliver_once()
            self._checkpoint_once()
            self.dispatcher.close()
        self.mqtt_reader.stop()
        with contextlib.suppress(Exception):
            self.tailer.step()  # what the last rounds wrote reaches the streams before they end
        self.tailer.stop()
        self.bus.close()  # ends the event streams, so the API stops without cutting them off
        if self.api is not None:
            self.api.stop()
        if self.broker is not None:
            self.broker.stop()
        for close in self._closers:
            with contextlib.suppress(Exception):
                close()
        log.info("stopped")

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise RuntimeError("the API is not running")
        return f"http://{self.settings.api.host}:{self.api.port}"

    # --- wiring ----------------------------------------------------------------------------------------

    def _on_finding(self, finding: Finding) -> None:
        """Data-path findings (the spool nearly full): logged, to the alert engine, on the event bus."""
        log.error("datapath", kind=finding.kind, active=finding.active, summary=finding.summary)
        if "alerts" in self.parts:
            self._queue_findings([finding])
        data = {
            "site": finding.site,
            "kind": finding.kind,
            "active": finding.active,
            "summary": finding.summary,
        }
        try:
            with self.engine.begin() as conn:
                eventlog.append(conn, "datapath", finding.site, data, utc_from_ms(finding.ts_ms))
        except Exception:  # the state database may be what is failing: the log line above stays
            log.exception("datapath event not logged", kind=finding.kind)
            return
        self.bus.wake()

    def _on_gateway_findings(self, findings: Sequence[Finding]) -> None:
        """Presence findings to the engine; the data path's (the broker lost) also to the log and the bus."""
        devices = [f for f in findings if f.asset != DATAPATH_ASSET]
        if devices:
            self._queue_findings(devices)
        for finding in findings:
            if finding.asset == DATAPATH_ASSET:
                self._on_finding(finding)

    def _readiness(self) -> Readiness:
        """Probes of the parts this process runs (``--only api`` has no broker and no telemetry writes)."""
        checks = [Check("state_db", state_db_probe(self.engine))]
        gateway = self.gateway
        if gateway is not None:

            def broker() -> str | None:
                if gateway.connected:
                    return None
                return gateway.failure or "not connected to the MQTT broker"

            checks += [Check("broker", broker), Check("telemetry", self.telemetry.writable)]
        if "alerts" in self.parts:
            checks.append(Check("engine", lag_probe(self._engine_lag, ENGINE_LAG_LIMIT_S)))
        return Readiness(checks)

    def _on_batch(self, readings: Sequence[Reading]) -> None:
        """Judge a batch before it is stored, and queue its findings durably (the gateway acks after)."""
        # The wall clock tells a replay (old readings) from current data: alerts/engine/alerting.py.
        self.intake.put(self.alerts.judge(readings, now=self.clock.now()))

    def _engine_lag(self) -> float | None:
        """How far the engine is behind: the age of the intake's oldest entry (a test may set ``engine_lag``)."""
        return (self.engine_lag or self.intake.lag_s)()

    def _queue_findings(self, findings: Sequence[Finding]) -> None:
        """Findings from outside the rules (presence, the data path), queued like the rules' own."""
        if findings:
            self.intake.put(Judgement(tuple(findings), max(f.ts_ms for f in findings), None))

    def _tell_fallback(self, title: str, body: str) -> bool:
        """Tell the fallback person directly (apprise, outside the outbox, which lives in the state database)."""
        person = fallback_person(self.site)
        if person is None or not person.notify:
            log.error("no fallback person to tell", title=title)
            return False
        return tell_directly(list(person.notify), title, body, deadline_s=10)

    def _publish_alert_changes(self, conn: Connection, batch: Sequence[Event]) -> None:
        """The MQTT alert topic, fed from the event log (this site's alerts; at least once): the reader's
        cursor moves only once the broker has acknowledged every message of the batch."""
        if self.gateway is None:
            raise RuntimeError("no gateway to publish alert changes with")
        sent = []
        for event in batch:
            if event.type != "alert" or event.site != self.site.id:
                continue
            asset = str(event.data.get("asset", ""))
            if asset:
                payload = orjson.dumps(dict(event.data))
                sent.append(self.gateway.publish(topics.alerts(event.site, asset), payload, qos=1))
        for info in sent:
            info.wait_for_publish(MQTT_ACK_S)  # raises when not sent: the batch is read again later
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge alert changes within {MQTT_ACK_S:g} s")

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"facwatch-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self._tick_once()

    def _datapath_loop(self) -> None:
        """The gateway's figures to the state database, for every API process (api/datapath.py)."""
        previous: tuple[datetime, float] | None = None
        while True:
            now = self.clock.now()
            figures = datapath.measure(previous, now)
            previous = (now, figures.readings_total)
            try:
                datapath.report(self.engine, self.site.id, figures, now)
            except Exception as exc:
                log.warning("datapath report failed", error=f"{type(exc).__name__}: {exc}")
            if self._stop.wait(DATAPATH_REPORT_S):
                return

    def _tick_once(self) -> None:
        now = self.clock.now()
        try:
            self.alerts.tick(now)
        except Exception:
            log.exception("tick failed")
        if self.site.chat.groups and time.monotonic() >= self._chat_due:
            self._chat_due = time.monotonic() + CHAT_TICK_S
            try:  # the owners' ladder: rungs that ended, complaints no sensor confirmed; old chat text forgotten
                if self._chat is None:
                    self._chat = ChatService.build(self.engine, self.site, self.alerts)
                self._chat.tick(now)
            except Exception:
                log.exception("chat tick failed")

    def _restore(self) -> None:
        """Detector state from the checkpoint and the store's recent history (alerts/engine/checkpoint.py)."""
        try:
            self.checkpoint.restore(self.clock.now())
        except Exception:
            log.exception("restore failed: detection starts fresh")

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self.checkpoint.every_s):
            self._checkpoint_once()

    def _checkpoint_once(self) -> None:
        try:
            self.checkpoint.write(self.clock.now())
        except Exception:
            log.exception("checkpoint failed")
        try:
            eventlog.prune(
                self.engine, self.clock.now(), timedelta(days=self.settings.state.events_retention_days)
            )
        except Exception:
            log.exception("event log retention failed")

    def _notify_loop(self) -> None:
        while not self._stop.wait(TICK_S):
            self._deliver_once()

    def _deliver_once(self) -> None:
        try:
            now = self.clock.now()
            notify = self.settings.notify
            quiet = (notify.quiet_start, notify.quiet_end) if notify.quiet_hours else None
            tell_reporters(self.engine, self.site, now, quiet)  # owners who reported through the page
            self.dispatcher.deliver_pending(now)
        except Exception:
            log.exception("notification delivery failed")


def build(
    settings: Settings,
    site: Site,
    *,
    parts: Sequence[str] = PARTS,
    clock: Clock | None = None,
    tell_fallback: Callable[[str, str], bool] | None = None,
) -> System:
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    return System(
        settings=settings,
        site=site,
        clock=clock or WallClock(),
        parts=frozenset(parts),
        tell_fallback=tell_fallback,
    )


def _free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there (so devices can find the demo broker), else any free port."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")
