"""The staff's side of owners' reports (bearer token): a report and its photos, the judgement that earns
points, the points ledger, the leaderboard with masked numbers, and redemptions recorded at the desk.

A report is named by its ticket (``T-000012``) or by its status id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from alerts.engine.points import AlreadyConfirmed, NotEnoughPoints
from api.deps import Engineer, Manager, Services, Viewer
from api.errors import http_errors
from api.responses import AUTHENTICATED, INVALID, ErrorOut, Responses, body, example, missing
from api.routes.common import TimeParam
from api.routes.owner_reports import (
    PHOTO_ANSWER,
    STATUS_EXAMPLE,
    Position,
    ReportId,
    StatusOut,
    _desk,
)
from api.routes.reports import _span
from api.text import TextIn

router = APIRouter(tags=["owners' reports"], responses=AUTHENTICATED)
CONFLICT: Responses = {409: {"model": ErrorOut, "description": "Already judged, or not enough points"}}
Phone = Annotated[str, Query(min_length=5, max_length=32, description="The owner's phone number")]


def _conflict(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


@router.get(
    "/owner-reports/{report_id}",
    summary="Get an owner's report",
    response_model=StatusOut,
    responses={**missing("report"), **example(STATUS_EXAMPLE)},
)
def get_report(request: Request, _: Viewer, report_id: ReportId) -> StatusOut:
    """A report by its ticket (``T-000012``) or its status id: what the owner sees, and its photos' count."""
    with http_errors():
        return StatusOut.of(_desk(request).status(report_id))


@router.get(
    "/owner-reports/{report_id}/photos/{position}",
    summary="See a photo of a report",
    response_class=Response,
    responses=PHOTO_ANSWER,
)
def get_photo(request: Request, _: Viewer, report_id: ReportId, position: Position) -> Response:
    """The ``position``-th photo of a report (by ticket or status id)."""
    with http_errors():
        data, media = _desk(request).photo(report_id, position)
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


class ConfirmIn(TextIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"valid": True}]})
    valid: bool = Field(default=True, description="Whether the report was true and useful")


CONFIRM_EXAMPLE: dict[str, Any] = {
    "report": "Hh3mK0x9Yc1QeWbT2vZp8sLdNa4RfGjU",
    "ticket": "T-000012",
    "points": 10,
    "reason": "confirmed as valid",
    "balance": 30,
    "duplicate_of": None,
}


class ConfirmOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONFIRM_EXAMPLE]})
    report: str = Field(description="The report's status id")
    ticket: str = Field(description="Its ticket")
    points: int = Field(description="Points it earned (0: see reason)")
    reason: str = Field(description="Why it earned what it earned")
    balance: int | None = Field(description="The reporter's balance after it (null: no phone number given)")
    duplicate_of: str | None = Field(description="The first open report of the same problem, if any")


@router.post(
    "/owner-reports/{report_id}/confirm",
    summary="Judge an owner's report",
    response_model=ConfirmOut,
    responses=body(missing("report"), CONFLICT, example(CONFIRM_EXAMPLE)),
)
def confirm(
    request: Request, services: Services, principal: Engineer, report_id: ReportId, verdict: ConfirmIn
) -> ConfirmOut:
    """An engineer judges a report once: a valid one earns its reporter points (a duplicate of an open
    report that already earned earns nothing; the ledger says why)."""
    try:
        with http_errors():
            done = _desk(request).confirm(report_id, verdict.valid, principal.name, services.clock.now())
    except AlreadyConfirmed as exc:
        raise _conflict(exc) from exc
    return ConfirmOut(
        report=done.report,
        ticket=done.ticket,
        points=done.points,
        reason=done.reason.value,
        balance=done.balance,
        duplicate_of=done.duplicate_of,
    )


class EntryOut(BaseModel):
    at: datetime = Field(description="When")
    delta: int = Field(description="Points earned (positive) or redeemed (negative)")
    reason: str = Field(description="Why")
    actor: str = Field(description="Who recorded it")


LEDGER_EXAMPLE: dict[str, Any] = {
    "holder": "138****5678",
    "balance": 10,
    "entries": [
        {"at": "2026-11-28T09:00:00Z", "delta": 10, "reason": "T-000012: confirmed as valid", "actor": "li"}
    ],
}


class LedgerOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [LEDGER_EXAMPLE]})
    holder: str = Field(description="The phone number, masked")
    balance: int = Field(description="Points left")
    entries: list[EntryOut] = Field(description="The ledger, newest first")


@router.get(
    "/points/ledger",
    summary="Show an owner's points ledger",
    response_model=LedgerOut,
    responses={**INVALID, **example(LEDGER_EXAMPLE)},
)
def ledger(request: Request, _: Engineer, phone: Phone) -> LedgerOut:
    """The points of the owner with this phone number: balance and every entry with its reason."""
    with http_errors():
        label, balance, entries = _desk(request).points_of(phone)
    return LedgerOut(
        holder=label,
        balance=balance,
        entries=[EntryOut(at=e.at, delta=e.delta, reason=e.reason, actor=e.actor) for e in entries],
    )


class StandingOut(BaseModel):
    holder: str = Field(description="The phone number, masked (138****5678)")
    earned: int = Field(description="Points earned in all")
    reports: int = Field(description="Reports that earned")


BOARD_EXAMPLE: dict[str, Any] = {"items": [{"holder": "138****5678", "earned": 30, "reports": 3}]}


class LeaderboardOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [BOARD_EXAMPLE]})
    items: list[StandingOut] = Field(description="Most points earned first")


@router.get(
    "/points/leaderboard",
    summary="Show the compound's leaderboard",
    response_model=LeaderboardOut,
    responses={**INVALID, **example(BOARD_EXAMPLE)},
)
def leaderboard(
    request: Request, _: Viewer, limit: Annotated[int, Query(ge=1, le=100, description="How many")] = 20
) -> LeaderboardOut:
    """The compound's reporters by points earned (redeeming does not lower a place), names masked."""
    standings = _desk(request).leaderboard(limit)
    return LeaderboardOut(
        items=[StandingOut(holder=s.label, earned=s.earned, reports=s.reports) for s in standings]
    )


class RedeemIn(TextIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"phone": "13812345678", "points": 20, "reason": "a bag of rice"}]},
    )
    phone: str = Field(min_length=5, max_length=32, description="The owner's phone number")
    points: int = Field(ge=1, le=1_000_000, description="How many points are spent")
    reason: str = Field(min_length=1, max_length=200, description="What they were redeemed for")


class RedeemOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"holder": "138****5678", "balance": 10}]})
    holder: str = Field(description="The phone number, masked")
    balance: int = Field(description="Points left")


@router.post(
    "/points/redeem",
    summary="Record a points redemption",
    response_model=RedeemOut,
    responses=body(CONFLICT, INVALID, example({"holder": "138****5678", "balance": 10})),
)
def redeem(request: Request, services: Services, principal: Engineer, spend: RedeemIn) -> RedeemOut:
    """Staff record what an owner took for their points; refused (409) when the balance is too low."""
    desk = _desk(request)
    try:
        with http_errors():
            left = desk.redeem(spend.phone, spend.points, spend.reason, principal.name, services.clock.now())
            _, label = desk.holder(spend.phone)
    except NotEnoughPoints as exc:
        raise _conflict(exc) from exc
    return RedeemOut(holder=label, balance=left)


class CategoryRowOut(BaseModel):
    category: str = Field(description="leak, elevator, power, noise, cleaning, security, other")
    acknowledge_target_s: float | None = Field(
        description="The category's acknowledge deadline (null: default)"
    )
    on_site_target_s: float | None = Field(description="The category's on-site deadline (null: none)")
    fixed_target_s: float | None = Field(description="The category's fix deadline (null: none)")
    tickets: int = Field(description="Owner tickets of the category created in the span")
    acknowledged: int = Field(description="Of them, acknowledged")
    arrived: int = Field(description="Of them, reached on site (checked in)")
    fixed: int = Field(description="Of them, resolved or closed")
    ack_p90_s: float | None = Field(description="90th percentile of the time to acknowledge")
    arrive_p90_s: float | None = Field(description="90th percentile of the time to reach the site")
    fix_p90_s: float | None = Field(description="90th percentile of the time to fix")
    ack_breaches: int = Field(description="Acknowledge deadlines missed")
    arrive_breaches: int = Field(description="On-site deadlines missed")
    fix_breaches: int = Field(description="Fix deadlines missed")


CATEGORY_ROW: dict[str, Any] = {
    "category": "leak",
    "acknowledge_target_s": None,
    "on_site_target_s": 1800,
    "fixed_target_s": 86400,
    "tickets": 4,
    "acknowledged": 4,
    "arrived": 3,
    "fixed": 3,
    "ack_p90_s": 320.0,
    "arrive_p90_s": 1500.0,
    "fix_p90_s": 20000.0,
    "ack_breaches": 0,
    "arrive_breaches": 1,
    "fix_breaches": 0,
}
CATEGORY_REPORT: dict[str, Any] = {
    "since": "2026-11-01T00:00:00Z",
    "until": "2026-12-01T00:00:00Z",
    "rows": [CATEGORY_ROW],
}


class CategoryReportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CATEGORY_REPORT]})
    since: datetime = Field(description="Start of the span (inclusive)")
    until: datetime = Field(description="End of the span (exclusive)")
    rows: list[CategoryRowOut] = Field(description="One row per category with owner tickets")


@router.get(
    "/reports/owner-sla",
    summary="Report owner SLAs per category",
    response_model=CategoryReportOut,
    responses={**INVALID, **example(CATEGORY_REPORT)},
)
def owner_sla(
    request: Request, services: Services, _: Manager, since: TimeParam = None, until: TimeParam = None
) -> CategoryReportOut:
    """Owner-reported tickets created in ``[since, until)`` (default: the last 30 days) per category,
    measured against the category's own deadlines from the site file."""
    start, end = _span(since, until, services.clock.now(), timedelta(days=30))
    rows = _desk(request).sla_by_category(start, end)
    return CategoryReportOut(
        since=start,
        until=end,
        rows=[
            CategoryRowOut(
                category=r.category,
                acknowledge_target_s=r.target.acknowledge_s,
                on_site_target_s=r.target.on_site_s,
                fixed_target_s=r.target.fixed_s,
                tickets=r.tickets,
                acknowledged=r.acknowledged,
                arrived=r.arrived,
                fixed=r.fixed,
                ack_p90_s=r.ack_p90_s,
                arrive_p90_s=r.arrive_p90_s,
                fix_p90_s=r.fix_p90_s,
                ack_breaches=r.ack_breaches,
                arrive_breaches=r.arrive_breaches,
                fix_breaches=r.fix_breaches,
            )
            for r in rows
        ],
    )
