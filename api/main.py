"""The app factory: routers under ``/api/v1``, open health and metrics, the live board at ``/``.

``create_app(services)`` is all the composition root calls; the services are kept on ``app.state`` and
reach handlers through ``api.deps``.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.deps import ApiServices
from api.metrics import MetricsMiddleware
from api.routes import alerts, assets, dead_letters, events, health, tickets

API_PREFIX = "/api/v1"
HEARTBEAT_S = 15.0


def create_app(services: ApiServices, *, heartbeat_s: float = HEARTBEAT_S) -> FastAPI:
    app = FastAPI(
        title="facwatch",
        summary="Alerts, tickets and telemetry of residential compounds: elevators, pumps, power.",
        version="1",
    )
    app.state.services = services
    app.state.heartbeat_s = heartbeat_s
    app.add_middleware(MetricsMiddleware)
    for module in (alerts, tickets, assets, dead_letters, events):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.router)
    static = resources.files("api").joinpath("static")
    app.mount("/", StaticFiles(directory=str(static), html=True), name="board")
    return app
