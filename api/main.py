"""The app factory: routers under ``/api/v1``, open health and metrics, the live board at ``/``.

``create_app(services)`` is all the composition root calls; the services are kept on ``app.state`` and
reach handlers through ``api.deps``. The app's lifespan runs the webhook worker (deliveries go out while
the API runs, and stop with it); ``webhooks=False`` leaves it out (tests that do not need it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from alerts.engine.owner_desk import OwnerDesk
from api import handlers, metrics
from api.deps import ApiServices
from api.headers import SecurityHeadersMiddleware
from api.idempotency import IdempotencyMiddleware, IdempotencyStore
from api.limits import BodyLimitMiddleware
from api.metrics import MetricsMiddleware
from api.readiness import Check, Readiness, state_db_probe
from api.routes import (
    alerts,
    assets,
    chat,
    dead_letters,
    events,
    health,
    owner_reports,
    owner_staff,
    report_pages,
    reports,
    sites,
    tickets,
    webhooks,
)
from api.routes import maintenance as maintenance_routes
from api.targets import TargetPolicy
from api.webhook_worker import WebhookWorker
from api.webhooks import WebhookStore

API_PREFIX = "/api/v1"
HEARTBEAT_S = 15.0

DESCRIPTION = """
Every route under `/api/v1` needs `Authorization: Bearer <token>` (tokens: `facwatch token create`), except the
chat platforms' callbacks (`/api/v1/chat/dingtalk/{group}`, `/api/v1/chat/feishu/{group}`): they are checked
for the platform's signature instead.
Lists take `?limit=N&cursor=C` and answer `{"items": [...], "next": C | null}`. Every POST accepts an
`Idempotency-Key` header: a retry with the same key and body replays the first answer.
"""


def create_app(
    services: ApiServices,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    webhooks_worker: bool = True,
    webhook_targets: TargetPolicy | None = None,
    owner_desk: OwnerDesk | None = None,
) -> FastAPI:
    """``webhook_targets``: where webhooks may deliver (default: public https addresses only);
    ``owner_desk``: the owners' report page and points (docs/owners.md), left out when None."""
    store = WebhookStore(services.tokens.engine, webhook_targets)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if webhooks_worker:
            log_engine = services.tokens.engine if services.event_log else None
            worker = WebhookWorker(store, services.bus, services.clock, log_engine=log_engine)
        if worker is not None:
            worker.start()
        app.state.webhook_worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="facwatch",
        summary="Alerts, tickets and telemetry of residential compounds: elevators, pumps, power.",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.readiness = services.readiness or Readiness(
        [Check("state_db", state_db_probe(services.tokens.engine))]
    )
    metrics.watch(app.state.readiness, services.tokens.engine)
    app.state.heartbeat_s = heartbeat_s
    app.state.webhooks = store
    app.state.idempotency = IdempotencyStore(services.tokens.engine)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(MetricsMiddleware)
    photo_limit = {owner_reports.PHOTO_PATH: owner_desk.limits.photo_max_bytes} if owner_desk else {}
    app.add_middleware(
        BodyLimitMiddleware, limits=photo_limit
    )  # outside the others: an oversized body reaches none
    app.add_middleware(SecurityHeadersMiddleware)
    handlers.install(app)
    for module in (sites, alerts, tickets, assets, reports, webhooks, dead_letters, events, chat):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(maintenance_routes.router, prefix=API_PREFIX)
    app.state.owner_desk = owner_desk
    if owner_desk is not None:
        app.include_router(owner_reports.page, prefix=API_PREFIX)
        app.include_router(owner_staff.router, prefix=API_PREFIX)
    app.include_router(health.api_router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.include_router(report_pages.router)
    _document_idempotency(app)
    static = resources.files("api").joinpath("static")
    app.mount("/", StaticFiles(directory=str(static), html=True), name="board")
    return app


IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key and request within 24 h replays the first answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "example": "pm-ticket-8812",
}


IDEMPOTENCY_CONFLICT: dict[str, Any] = {
    "description": "A request with the same Idempotency-Key is still being answered: retry later",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _document_idempotency(app: FastAPI) -> None:
    """The middleware handles the header for every POST; say so (and its 409) in the OpenAPI of each POST."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            for operations in schema.get("paths", {}).values():
                post = operations.get("post")
                if post is not None:
                    post.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                    post["responses"].setdefault("409", IDEMPOTENCY_CONFLICT)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
