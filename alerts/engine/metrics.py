"""Prometheus metrics of alerts and SLA clocks, computed at scrape time from the state database.

    scrape ─► /metrics ─► REGISTRY.collect() ─► EngineCollector.collect() ─► a few GROUP BY queries

Nothing here is counted in memory: every figure is read from the state database when Prometheus scrapes, so
it is right whichever process opened the alert or stopped the clock (``facwatch run --only worker`` beside
``--only api``, several workers on PostgreSQL), and right again after a restart.

- ``facwatch_alerts_opened_total{level,kind}``: alerts ever opened (a counter: rows are never deleted; a repeat
  updates the open alert and is not counted again).
- ``facwatch_alerts_firing{level}``: alerts firing now (every level is present, 0 included).
- ``facwatch_sla_clocks_running{clock}``: SLA clocks running and not yet due.
- ``facwatch_sla_clocks_breached{clock}``: SLA clocks running past their due time (nobody acknowledged,
  arrived or fixed in time).

``collect_figures`` is the query, ``families`` the pure mapping to samples. ``StateCollector`` is the one
shell for every scrape-time figure (notify and the API's webhooks use it too): registered once on the default
registry, it reads the engine that its ``watch`` last named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from alerts.engine.clocks import Clock
from alerts.engine.db import alerts, sla_clocks
from facwatch.model import AlertState, Level

log = structlog.get_logger("alerts.engine.metrics")


@dataclass(frozen=True, slots=True)
class Figures:
    """What the state database says at one moment."""

    opened: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(level, kind) → alerts ever opened."""
    firing: Mapping[str, int] = field(default_factory=dict)
    """level → alerts firing."""
    running: Mapping[str, int] = field(default_factory=dict)
    """clock → running, not yet due."""
    breached: Mapping[str, int] = field(default_factory=dict)
    """clock → running past due."""


def collect_figures(engine: Engine, now: datetime) -> Figures:
    a, c = alerts, sla_clocks
    with engine.connect() as conn:
        opened = conn.execute(select(a.c.level, a.c.kind, func.count()).group_by(a.c.level, a.c.kind))
        firing = conn.execute(
            select(a.c.level, func.count()).where(a.c.state == AlertState.FIRING.value).group_by(a.c.level)
        )
        live = c.c.stopped_at.is_(None)
        running = conn.execute(
            select(c.c.clock, func.count()).where(live, c.c.due_at > now).group_by(c.c.clock)
        )
        breached = conn.execute(
            select(c.c.clock, func.count()).where(live, c.c.due_at <= now).group_by(c.c.clock)
        )
        return Figures(
            opened={(str(level), str(kind)): int(n) for level, kind, n in opened},
            firing={str(level): int(n) for level, n in firing},
            running={str(clock): int(n) for clock, n in running},
            breached={str(clock): int(n) for clock, n in breached},
        )


def families(figures: Figures) -> list[Metric]:
    """Pure: the metric families for one set of figures; every level and clock is present, 0 included."""
    opened = CounterMetricFamily(
        "facwatch_alerts_opened", "Alerts opened, by level and finding kind", labels=["level", "kind"]
    )
    for (level, kind), n in sorted(figures.opened.items()):
        opened.add_metric([level, kind], n)
    firing = GaugeMetricFamily("facwatch_alerts_firing", "Alerts firing now, by level", labels=["level"])
    for lvl in Level:
        firing.add_metric([lvl.value], figures.firing.get(lvl.value, 0))
    running = GaugeMetricFamily(
        "facwatch_sla_clocks_running", "SLA clocks running and not yet due", labels=["clock"]
    )
    breached = GaugeMetricFamily(
        "facwatch_sla_clocks_breached", "SLA clocks running past their due time", labels=["clock"]
    )
    for clock in Clock:
        running.add_metric([clock.value], figures.running.get(clock.value, 0))
        breached.add_metric([clock.value], figures.breached.get(clock.value, 0))
    return [opened, firing, running, breached]


class StateCollector(Collector):
    """Reads the state database at scrape time through ``read(engine, now)``; says nothing until an engine is
    watched, nor when the database fails (the scrape goes on; ``facwatch_ready`` says the database is down)."""

    def __init__(self, read: Callable[[Engine, datetime], list[Metric]], empty: list[Metric]) -> None:
        self._read = read
        self._empty = empty
        self._engine: Engine | None = None

    def watch(self, engine: Engine | None) -> None:
        """Export the figures of this database (the composition root calls it; the latest call wins; None:
        export nothing)."""
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        if engine is None:
            return
        try:
            found = self._read(engine, datetime.now(UTC))
        except Exception as exc:
            log.warning("metrics.state_unreadable", error=f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        yield from found

    def describe(self) -> Iterator[Metric]:
        return iter(self._empty)


COLLECTOR = StateCollector(lambda engine, now: families(collect_figures(engine, now)), families(Figures()))
REGISTRY.register(COLLECTOR)
watch = COLLECTOR.watch
