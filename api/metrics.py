"""The API's own Prometheus metrics, in the default registry that ``/metrics`` exports."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
