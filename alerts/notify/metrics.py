"""Prometheus metrics of notifications, by channel (the apprise URL's scheme: ``mailtos``, ``json``, ``dingtalk``).

From the state database at scrape time (right whichever process sent; see alerts/engine/metrics.py):
- ``facwatch_notifications_sent_total{channel,level}``: receipts delivered.
- ``facwatch_notifications_failed_total{channel,level}``: attempts that failed (refused, or outcome unknown).
  A receipt's attempts are counted when it is claimed, so failed = attempts − sent − still sending.
- ``facwatch_notifications_undelivered{level}``: notifications declared undelivered (a RED nobody received
  within ``undelivered_s``) and still not delivered on any channel.

Counted in the process that sends (its own ``/metrics``):
- ``facwatch_notification_send_seconds{channel,outcome}``: how long each send took, to its end or deadline.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Histogram
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Engine, and_, exists, func, select

from alerts.engine.db import notification_receipts, notifications
from alerts.engine.metrics import StateCollector
from facwatch.model import Level

SEND_SECONDS = Histogram(
    "facwatch_notification_send_seconds",
    "Time one notification send took, to its end or its deadline, by channel and outcome",
    ["channel", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def channel_of(url: str) -> str:
    """The apprise URL's scheme, lowercase: a bounded label (never the address)."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower()[:20] if sep and scheme.isalnum() else "other"


def observe_send(url: str, outcome: str, seconds: float) -> None:
    SEND_SECONDS.labels(channel_of(url), outcome).observe(max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class Figures:
    sent: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(channel, level) → receipts delivered."""
    failed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(channel, level) → failed attempts."""
    undelivered: Mapping[str, int] = field(default_factory=dict)
    """level → notifications undelivered still."""


def collect_figures(engine: Engine, now: datetime) -> Figures:
    r, n = notification_receipts, notifications
    sent: Tally[tuple[str, str]] = Tally()
    failed: Tally[tuple[str, str]] = Tally()
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.c.url, n.c.level, r.c.status, func.count(), func.sum(r.c.attempts))
            .join(n, n.c.id == r.c.notification_id)
            .group_by(r.c.url, n.c.level, r.c.status)
        )
        for url, level, status, count, attempts in rows:
            key = (channel_of(str(url)), str(level or "none"))
            done = int(count) if status in ("sent", "sending") else 0  # attempts that did not fail
            failed[key] += max(int(attempts or 0) - done, 0)
            if status == "sent":
                sent[key] += int(count)
        delivered = exists().where(and_(r.c.notification_id == n.c.id, r.c.status == "sent"))
        undelivered = conn.execute(
            select(n.c.level, func.count())
            .where(n.c.undelivered_at.is_not(None), ~delivered)
            .group_by(n.c.level)
        )
        lost = {str(level or "none"): int(count) for level, count in undelivered}
    return Figures(sent=dict(sent), failed=dict(failed), undelivered=lost)


def families(figures: Figures) -> list[Metric]:
    """Pure: metric families for one set of figures."""
    labels = ["channel", "level"]
    sent = CounterMetricFamily(
        "facwatch_notifications_sent", "Notification receipts delivered, by channel and level", labels=labels
    )
    failed = CounterMetricFamily(
        "facwatch_notifications_failed",
        "Notification attempts that failed, by channel and level",
        labels=labels,
    )
    for key in sorted(set(figures.sent) | set(figures.failed)):
        sent.add_metric(list(key), figures.sent.get(key, 0))
        failed.add_metric(list(key), figures.failed.get(key, 0))
    undelivered = GaugeMetricFamily(
        "facwatch_notifications_undelivered",
        "Notifications nobody has received past the undelivered deadline, by level",
        labels=["level"],
    )
    for lvl in Level:
        undelivered.add_metric([lvl.value], figures.undelivered.get(lvl.value, 0))
    return [sent, failed, undelivered]


COLLECTOR = StateCollector(lambda engine, now: families(collect_figures(engine, now)), families(Figures()))
REGISTRY.register(COLLECTOR)
watch = COLLECTOR.watch
