"""The API's own Prometheus metrics, in the default registry that ``/metrics`` exports.

Besides requests and streams, two families are computed at scrape time:
- ``facwatch_ready{part}``: 1 when the part works, 0 when not: the same verdict as ``/readyz``
  (api/readiness.py: probes under a deadline, cached for a second), so a scrape never hangs.
- ``facwatch_webhooks_delivered_total``, ``facwatch_webhooks_failed_total`` (attempts that failed),
  ``facwatch_webhooks_abandoned_total`` (deliveries given up) and ``facwatch_webhooks_pending``,
  from the state database (right whichever process delivered).

``watch(readiness, engine)`` names what to read, for these and for the alerts' and notifications' families
(alerts/engine/metrics.py, alerts/notify/metrics.py); ``create_app`` calls it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.engine import metrics as engine_metrics
from alerts.engine.metrics import StateCollector
from alerts.notify import metrics as notify_metrics
from api.db import webhook_deliveries
from api.readiness import Readiness, Verdict

REQUESTS = Counter(
    "facwatch_api_requests_total",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "facwatch_api_request_seconds", "Time to answer an HTTP request (to the headers)", ["route"]
)
STREAMS = Gauge("facwatch_api_event_streams", "Open server-sent event streams")


class MetricsMiddleware:
    """Counts requests by route template (bounded label values), not by raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                LATENCY.labels(_route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUESTS.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "static"


def ready_family(verdict: Verdict) -> GaugeMetricFamily:
    """Pure: one sample per probed part, 1 when it works."""
    family = GaugeMetricFamily("facwatch_ready", "1 when the part works (as /readyz says)", labels=["part"])
    for part in verdict.checked:
        family.add_metric([part], 0.0 if part in verdict.failing else 1.0)
    return family


class ReadinessCollector(Collector):
    def __init__(self) -> None:
        self.readiness: Readiness | None = None

    def collect(self) -> Iterator[Metric]:
        readiness = self.readiness
        if readiness is not None:
            yield ready_family(readiness.verdict())

    def describe(self) -> Iterator[Metric]:
        return iter([ready_family(Verdict(ready=True, failing={}, checked=()))])


def webhook_families(counts: dict[str, tuple[int, int]]) -> list[Metric]:
    """Pure: ``counts`` is status → (deliveries, attempts)."""
    delivered, _ = counts.get("delivered", (0, 0))
    abandoned, _ = counts.get("failed", (0, 0))
    attempts = sum(tried for _, tried in counts.values())
    pending, _ = counts.get("pending", (0, 0))
    return [
        CounterMetricFamily("facwatch_webhooks_delivered", "Webhook deliveries accepted (2xx)", delivered),
        CounterMetricFamily("facwatch_webhooks_failed", "Webhook attempts that failed", attempts - delivered),
        CounterMetricFamily("facwatch_webhooks_abandoned", "Webhook deliveries given up", abandoned),
        GaugeMetricFamily("facwatch_webhooks_pending", "Webhook deliveries waiting to be sent", pending),
    ]


def _webhook_counts(engine: Engine, now: datetime) -> list[Metric]:
    w = webhook_deliveries
    with engine.connect() as conn:
        rows = conn.execute(select(w.c.status, func.count(), func.sum(w.c.attempts)).group_by(w.c.status))
        counts = {str(status): (int(n), int(tried or 0)) for status, n, tried in rows}
    return webhook_families(counts)


READY = ReadinessCollector()
WEBHOOKS = StateCollector(_webhook_counts, webhook_families({}))
REGISTRY.register(READY)
REGISTRY.register(WEBHOOKS)


def watch(readiness: Readiness, engine: Engine) -> None:
    """Export this process's readiness and this state database's figures (the latest call wins)."""
    READY.readiness = readiness
    for collector in (WEBHOOKS, engine_metrics.COLLECTOR, notify_metrics.COLLECTOR):
        collector.watch(engine)
