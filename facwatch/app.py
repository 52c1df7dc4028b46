"""The composition root: builds every part from the settings, wires them, starts and stops them in order.

    broker ──► gateway ──► judge (rules) ──► findings queue ──► alert service ──► tickets, clocks, outbox
                  ├──► telemetry store (durable)           │   (fsync'd)   │                 └──► dispatcher ──► apprise
                  └──► dead letters                        │               └──► event bus ──► API (SSE, board), MQTT
                                       state database unreachable > 60 s ──► fallback person, directly

One process serves every site its settings name: what the sites share (the state database, the event-log
tailer, the API, the tokens, the dead letters) is built here once; each site's own parts (gateway, telemetry
sink, intake, alert service, dispatcher, loops, the MQTT alert-topic reader) are a ``SiteRuntime``
(facwatch/runtime.py), started and stopped one site at a time.

Nothing else imports every package. ``facwatch demo`` and ``facwatch run`` both build a ``System`` here.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from alerts.engine import eventlog
from alerts.engine.checkpoint import EVERY_S as RETENTION_EVERY_S
from alerts.engine.eventlog import LogTailer
from alerts.engine.events import EventBus
from alerts.engine.intake import Intake
from alerts.engine.service import AlertService
from alerts.notify.messages import Templates
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from api.multisite import SiteAlerts, SiteTelemetry
from api.readiness import Check, Readiness, lag_probe, state_db_probe
from api.server import ServerHandle, serve
from api.targets import TargetPolicy
from facwatch.clock import Clock, WallClock
from facwatch.config import PARTS, Settings
from facwatch.model import Site, TelemetryReader
from facwatch.owner_setup import make_desk
from facwatch.runtime import Shared, SiteRuntime
from facwatch.sole_owner import Guard, Holder, Role, claim
from facwatch.state import migrate, open_engine
from facwatch.stopping import stop_sites
from facwatch.watchdog import LOOK_S as WATCH_S
from facwatch.watchdog import Watchdog
from facwatch.worker import Ownership, ownership, worker_name
from gateway.embedded import EmbeddedBroker
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.factory import Telemetry

log = structlog.get_logger("facwatch.app")

ENGINE_LAG_LIMIT_S = 10.0
"""``/readyz`` fails while the alert engine is further behind its findings than this."""


@dataclass
class System:
    """Every running part of one facwatch process. Build with ``build``, then ``start`` and ``stop``."""

    settings: Settings
    sites: Sequence[Site]
    clock: Clock
    parts: frozenset[str]
    single: frozenset[str] = frozenset()
    """Ids of the sites named by ``site =`` (their local files keep the one-site names)."""
    bus: EventBus = field(default_factory=EventBus)
    broker: EmbeddedBroker | None = None
    api: ServerHandle | None = None
    engine_lag: Callable[[], float | None] | None = None
    """Seconds the alert engine is behind (for ``/readyz``); default: the oldest intake entry's age, all sites."""
    tell_fallback: Callable[[str, str], bool] | None = None
    """How the fallback person is told of a state-database outage; default: apprise via alerts.notify.direct."""
    leased: bool = False
    """``--only worker``: the sites are taken through leases (PostgreSQL) or owned alone (SQLite), facwatch/worker.py."""
    guard: Guard | None = None
    """The start-up lock (facwatch/sole_owner.py) when the caller took it (``facwatch run`` does, before the
    slow part of the start); else ``start`` takes it. Released last by ``stop``."""
    failure: str | None = None
    """Why this process stopped its sites by itself (its start-up lock taken by another kind of process while
    the database was away), if it did."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(self.settings.state_url)
        migrate(self.engine)
        self.dead_letters = DeadLetterStore(self.settings.data_dir / "deadletters.db")
        self.tokens = TokenStore(self.engine)
        if self.settings.api.admin_token is not None:  # the bootstrap admin (stored hashed; idempotent)
            admin = self.settings.api.admin_token.get_secret_value()
            self.tokens.register("admin (settings)", ["admin"], admin)  # atomic: processes may start together
        self.owner: Ownership | None = None
        if self.leased:
            self.owner = ownership(self.settings, self.engine, [s.id for s in self.sites])
        shared = Shared(
            settings=self.settings,
            clock=self.clock,
            engine=self.engine,
            bus=self.bus,
            dead_letters=self.dead_letters,
            parts=self.parts,
            templates=Templates(self.settings.notify.template_dir),
            tell_fallback=self.tell_fallback,
            fencing=None if self.owner is None else self.owner.fencing,
            holds=None if self.owner is None else self.owner.holds,
            epoch=None if self.owner is None else self.owner.epoch,
        )
        self.runtimes: dict[str, SiteRuntime] = {}
        for site in self.sites:
            self.runtimes[site.id] = SiteRuntime(shared, site, single=site.id in self.single)
        # The event log feeds this process's streams (the tailer); each site's runtime feeds its MQTT topic.
        self.tailer = LogTailer(self.engine, self.bus)
        self.watchdog = Watchdog(
            lambda: {sid: r.tick_running_s() for sid, r in self.runtimes.items()},
            self._tell_of_stall,
            stall_s=self.settings.intake.stall_s,
        )
        self.bus.on_wake(self.tailer.wake)
        self._closers += [self.dead_letters.close, self.engine.dispose]

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self, *, embedded_broker: bool = False) -> None:
        """Start every part; first the start-up lock (facwatch/sole_owner.py): ``StartupError``, with nothing
        started, when a process of the other kind (workers / one process running every site) already runs
        the sites on this state database."""
        if self.guard is None:
            me = Holder(Role.WORKER if self.leased else Role.ALONE, worker_name(self.settings))
            self.guard = claim(self.engine, self.parts, me, self._lost_guard)
        if embedded_broker:
            self.broker = EmbeddedBroker()
            self.broker.start("127.0.0.1", _free_port(preferred=1883))
            # amqtt speaks MQTT 3.1.1 only: say so, rather than wait for an MQTT 5 connect to go unanswered.
            self.settings.mqtt.url = self.broker.url + "?protocol=3.1.1"
        if self.owner is not None:
            self.owner.start(self.runtimes)
        elif self.parts & {"gateway", "alerts"}:
            for runtime in self.runtimes.values():
                runtime.start()
        self.tailer.start()
        if "alerts" in self.parts:
            self._spawn("retention", self._retention_loop)
            self._spawn("watchdog", self._watchdog_loop)
        if "api" in self.parts:
            services = ApiServices(
                site=self.site,
                sites={site.id: site for site in self.sites},
                alerts=SiteAlerts({sid: r.alerts for sid, r in self.runtimes.items()}),
                telemetry=SiteTelemetry({sid: r.store for sid, r in self.runtimes.items()}),
                dead_letters=self.dead_letters,
                tokens=self.tokens,
                bus=self.bus,
                clock=self.clock,
                readiness=self._readiness(),
                event_log=True,
                reports=self.runtimes[self.site.id].reports,  # the pages of the first site
                judges=self._judges,
            )
            api = self.settings.api
            targets = TargetPolicy(api.webhook_allow_http, tuple(api.webhook_allow_hosts))
            desk = make_desk(self.settings, self.site, self.alerts, self.tokens.engine)
            app = create_app(services, webhook_targets=targets, owner_desk=desk)
            self.api = serve(app, self.settings.api.host, self.settings.api.port)
        log.info(
            "started", parts=sorted(self.parts), sites=sorted(self.runtimes), broker=self.settings.mqtt.url
        )

    def stop(self) -> None:
        """Stop each site in the order of its data flow (runtime.py), then the shared parts."""
        self._stop.set()
        if self.owner is not None:
            self.owner.stop()  # the sites held by lease are stopped and released at once
        stop_sites(self.runtimes)  # the others (no leases), in parallel
        for thread in self._threads:
            thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.tailer.step()  # what the last rounds wrote reaches the streams before they end
        self.tailer.stop()
        self.bus.close()  # ends the event streams, so the API stops without cutting them off
        if self.api is not None:
            self.api.stop()
        if self.broker is not None:
            self.broker.stop()
        for runtime in self.runtimes.values():
            runtime.close()
        guard, self.guard = self.guard, None
        if guard is not None:  # last: no other process runs the sites before these have stopped
            guard.release()
        for close in self._closers:
            with contextlib.suppress(Exception):
                close()
        log.info("stopped")

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise RuntimeError("the API is not running")
        return f"http://{self.settings.api.host}:{self.api.port}"

    def _lost_guard(self, reason: str) -> None:
        self.failure = reason
        threading.Thread(target=self.stop, name="facwatch-stop", daemon=True).start()

    # --- the first site's parts (one-site callers and tests) --------------------------------------------

    @property
    def first(self) -> SiteRuntime:
        return self.runtimes[self.sites[0].id]

    @property
    def site(self) -> Site:
        return self.sites[0]

    @property
    def alerts(self) -> AlertService:
        return self.first.alerts

    @property
    def intake(self) -> Intake:
        intake = self.first.intake
        if intake is None:
            raise RuntimeError(f"site {self.site.id} is not running in this process")
        return intake

    @property
    def gateway(self) -> Gateway | None:
        return self.first.gateway

    @property
    def telemetry(self) -> Telemetry:
        return self.first.telemetry

    @property
    def store(self) -> TelemetryReader:
        return self.first.store

    # --- wiring ----------------------------------------------------------------------------------------

    def _readiness(self) -> Readiness:
        """Probes of the parts this process runs (``--only api`` has no broker and no telemetry writes); a
        part fails when it fails on any site it runs, and the answer names the site."""
        checks = [Check("state_db", state_db_probe(self.engine))]
        if "gateway" in self.parts:
            checks += [Check("broker", self._broker_probe), Check("telemetry", self._telemetry_probe)]
        if "alerts" in self.parts:
            checks.append(Check("engine", lag_probe(self._engine_lag, ENGINE_LAG_LIMIT_S)))
            checks.append(Check("clocks", self.watchdog.probe))
        return Readiness(checks)

    def _failing(self, reasons: dict[str, str | None]) -> str | None:
        bad = {site: reason for site, reason in reasons.items() if reason is not None}
        if not bad:
            return None
        if len(self.runtimes) == 1:
            return next(iter(bad.values()))
        return "; ".join(f"site {site}: {reason}" for site, reason in sorted(bad.items()))

    def _broker_probe(self) -> str | None:
        reasons: dict[str, str | None] = {}
        for sid, runtime in self.runtimes.items():
            gateway = runtime.gateway
            if gateway is not None and not gateway.connected:
                reasons[sid] = gateway.failure or "not connected to the MQTT broker"
        return self._failing(reasons)

    def _telemetry_probe(self) -> str | None:
        return self._failing({sid: r.telemetry.writable() for sid, r in self.runtimes.items() if r.running})

    def _engine_lag(self) -> float | None:
        """How far the engine is behind: the oldest intake entry's age over the sites (a test may set
        ``engine_lag``)."""
        if self.engine_lag is not None:
            return self.engine_lag()
        return max((r.lag_s() for r in self.runtimes.values()), default=0.0)

    def _judges(self, site_id: str) -> bool:
        """Whether this process judges the site now: it runs the site's alerts, and holds the site."""
        runtime = self.runtimes.get(site_id)
        if "alerts" not in self.parts or runtime is None or not runtime.running:
            return False
        return self.owner is None or self.owner.holds(site_id)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"facwatch-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watchdog_loop(self) -> None:
        """Each running site's SLA clocks turning (facwatch/watchdog.py)."""
        while not self._stop.wait(min(WATCH_S, self.watchdog.stall_s / 4)):
            try:
                self.watchdog.look()
            except Exception:
                log.exception("watchdog failed")

    def _tell_of_stall(self, site: str, title: str, body: str) -> bool:
        tell = self.tell_fallback or self.runtimes[site].tell_fallback
        return tell(title, body)

    def _retention_loop(self) -> None:
        """The event log's retention (shared by the sites)."""
        while not self._stop.wait(RETENTION_EVERY_S):
            try:
                eventlog.prune(
                    self.engine, self.clock.now(), timedelta(days=self.settings.state.events_retention_days)
                )
            except Exception:
                log.exception("event log retention failed")


def build(
    settings: Settings,
    site: Site | Sequence[Site],
    *,
    parts: Sequence[str] = PARTS,
    clock: Clock | None = None,
    tell_fallback: Callable[[str, str], bool] | None = None,
    single: Sequence[str] | None = None,
    leased: bool = False,
    guard: Guard | None = None,
) -> System:
    """A system serving ``site`` (or every site of a sequence). ``single``: the ids named by ``site =``, whose
    local files keep the one-site names; None: the site, when there is one."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    sites = [site] if isinstance(site, Site) else list(site)
    if not sites:
        raise ValueError("a system serves at least one site")
    ids = [s.id for s in sites]
    if len(set(ids)) != len(ids):
        raise ValueError(f"site ids must be unique: {ids}")
    return System(
        settings=settings,
        sites=sites,
        clock=clock or WallClock(),
        parts=frozenset(parts),
        single=frozenset(ids if single is None and len(ids) == 1 else single or ()),
        tell_fallback=tell_fallback,
        leased=leased,
        guard=guard,
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
