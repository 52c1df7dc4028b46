"""Open routes: ``/healthz`` for load balancers and ``/metrics`` for Prometheus (the default registry)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.deps import Services
from api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz(services: Services) -> HealthOut:
    return HealthOut(
        status="ok", site=services.site.id, time=services.clock.now(), subscribers=services.bus.subscribers
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
