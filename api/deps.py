"""What handlers depend on: the services (built by the composition root) and the caller's principal.

The services live on ``app.state.services``; tests build their own ``ApiServices`` with fakes.
Authentication is a bearer token (``Authorization: Bearer <token>``); only the event stream also takes
``?ticket=`` (a single-use stream ticket from ``POST /events/ticket``), because a browser's EventSource
cannot send headers and a long-lived token in a URL would end up in proxy logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar

import anyio
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.engine.events import EventBus
from alerts.engine.ports import AlertsApi
from api.auth import Principal, Scope, TokenStore
from api.readiness import Readiness
from facwatch.clock import Clock
from facwatch.model import DeadLetter, Page, Site, TelemetryReader

if TYPE_CHECKING:
    from alerts.notify.reports.service import Reports


class DeadLetterQueries(Protocol):
    """What the API reads of the dead letters (``ingest.deadletters.DeadLetterStore`` answers it)."""

    def list(self, limit: int, cursor: str | None) -> Page[DeadLetter]: ...

    def counts(self) -> dict[str, int]: ...


@dataclass(frozen=True, slots=True)
class ApiServices:
    site: Site
    alerts: AlertsApi
    telemetry: TelemetryReader
    dead_letters: DeadLetterQueries
    tokens: TokenStore
    bus: EventBus
    clock: Clock
    readiness: Readiness | None = None
    """The probes of ``/readyz`` (the composition root picks them per part); None: the state database only."""
    event_log: bool = False
    """The events are in the state database's event log (``alerts.engine.eventlog``): SSE resumes from it
    and webhooks are fed from it. False: the bus alone (tests of the API without an engine)."""
    sites: Mapping[str, Site] = field(default_factory=dict)
    """Every site this API serves, by id (``site`` is the first); empty: ``site`` alone."""

    def all_sites(self) -> Mapping[str, Site]:
        """Every site this API serves, by id."""
        return self.sites or {self.site.id: self.site}

    def visible_sites(self, principal: Principal) -> list[Site]:
        """The sites this API serves that ``principal`` may see, in order."""
        return [s for sid, s in self.all_sites().items() if principal.sees(sid)]

    def site_for(self, principal: Principal, site_id: str) -> Site:
        """A site ``principal`` may see; 404 naming it otherwise (another site's objects do not exist for a
        token limited to its own)."""
        site = self.all_sites().get(site_id)
        if site is None or not principal.sees(site_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
        return site

    reports: Reports | None = None
    """The owners' report pages (``api.routes.report_pages``); None: no pages (404)."""
    judges: Callable[[str], bool] | None = None
    """Whether this process judges a site's owner messages as they arrive (it runs the site's alerts and holds
    it); when not, the route only keeps them and the site's owner judges them (``ChatService.catch_up``).
    None: always (one process, or tests of the API on an engine)."""

    def judges_site(self, site_id: str) -> bool:
        return self.judges is None or self.judges(site_id)


async def get_services(request: Request) -> ApiServices:
    """Async (as are the token checks below): FastAPI runs a sync dependency in a worker thread, a hop per
    dependency per request that costs more than the work."""
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]

T = TypeVar("T")
READ_THREADS = 2
"""Worker threads that may run the big list reads at once. The work is mostly Python (rows to values to
JSON) under one GIL: more threads only queue for the GIL and the database pool and make every request
slower; two let one thread wait on the database while the other maps rows (measured: 2 beat 1 and 4)."""


async def read_in_thread(request: Request, work: Callable[[], T]) -> T:
    """Run blocking ``work`` (a state database read) in a worker thread, at most ``READ_THREADS`` at once."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "read_limiter", None)
    if limiter is None:  # made on first use: a limiter belongs to the running event loop
        limiter = request.app.state.read_limiter = anyio.CapacityLimiter(READ_THREADS)
    return await anyio.to_thread.run_sync(work, limiter=limiter)


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer <token>`")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def _authorize(services: ApiServices, token: str | None, needed: Scope) -> Principal:
    if not token:
        raise _unauthorized("missing bearer token")
    # A token verified a moment ago is in memory; otherwise ask the database from a worker thread.
    principal = services.tokens.cached(token) or await run_in_threadpool(services.tokens.verify, token)
    if principal is None:
        raise _unauthorized("invalid or revoked token")
    if not principal.allows(needed):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token lacks the {needed} scope")
    return principal


def require(
    needed: Scope,
) -> Callable[[ApiServices, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A dependency: the caller's principal, holding ``needed`` (401 without a valid token, else 403)."""

    async def dependency(
        services: Services,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        return await _authorize(services, credentials.credentials if credentials else None, needed)

    return dependency


def require_stream(needed: Scope) -> Callable[..., Awaitable[Principal]]:
    """Like ``require``, but also accepts ``?ticket=`` (a stream ticket, for EventSource)."""

    async def dependency(
        services: Services,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ticket: Annotated[
            str | None,
            Query(
                max_length=200, description="A stream ticket from `POST /events/ticket` (single use, 60 s)"
            ),
        ] = None,
    ) -> Principal:
        if credentials or ticket is None:
            return await _authorize(services, credentials.credentials if credentials else None, needed)
        principal = await run_in_threadpool(services.tokens.redeem_ticket, ticket)
        if principal is None:
            raise _unauthorized("invalid, used or expired stream ticket")
        if not principal.allows(needed):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token lacks the {needed} scope")
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require(Scope.VIEWER))]
Engineer = Annotated[Principal, Depends(require(Scope.ENGINEER))]
Manager = Annotated[Principal, Depends(require(Scope.MANAGER))]
Integration = Annotated[Principal, Depends(require(Scope.INTEGRATION))]
StreamViewer = Annotated[Principal, Depends(require_stream(Scope.VIEWER))]
