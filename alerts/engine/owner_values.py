"""The owners' report desk's values, pure: its limits, a report's form and status, its refusals, and the
rate-limit decision (``alerts.engine.owner_desk`` is the shell around them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.engine import owner_identity as ids
from alerts.engine.errors import AlertsError
from alerts.engine.points import AwardReason
from facwatch.model import Deadlines, TicketState

MAX_PHOTOS = 3
REPORTER = "owner-page"
PUBLIC_STEPS = {
    "opened": "received",
    "acknowledge": "acknowledged",
    "dispatch": "dispatched",
    "check_in": "on_site",
    "progress": "progress",
    "plan_b": "plan_b",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "reopened",
    "cancel": "cancelled",
}
"""Timeline actions an owner sees, by the name the page translates; everything else stays with the staff."""


class TokenRefused(AlertsError):
    def __init__(self, problem: ids.TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class RateLimited(AlertsError):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))


@dataclass(frozen=True, slots=True)
class DeskLimits:
    window_s: float = 3600.0
    device_reports: int = 5
    phone_reports: int = 3
    device_photos: int = 15
    photo_max_bytes: int = 8 * 1024 * 1024
    photo_max_pixels: int = 40_000_000
    photo_max_side: int = 2048
    points_per_report: int = 10


@dataclass(frozen=True, slots=True)
class ReportForm:
    category: str
    text: str
    unit: str | None = None
    location: str | None = None
    phone: str | None = None
    photos: tuple[str, ...] = ()
    """Ids of photos this device uploaded (``add_photo``), in the order to show them."""
    updates: bool = False
    """The reporter asks to be told of progress at their phone number (when the desk can send)."""


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    step: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReportStatus:
    id: str
    ticket: str
    building: str
    category: str
    unit: str | None
    location: str | None
    text: str
    created_at: datetime
    state: TicketState
    deadlines: Deadlines
    steps: tuple[Step, ...]
    photos: int
    phone: str | None
    """Masked: 138****5678."""
    progress_percent: float | None
    eta: datetime | None
    points: int | None
    """What this report earned (None: not judged yet)."""


@dataclass(frozen=True, slots=True)
class Confirmation:
    report: str
    ticket: str
    points: int
    reason: AwardReason
    balance: int | None
    duplicate_of: str | None


def decide_rate(times: list[datetime], limit: int, window_s: float, now: datetime) -> float | None:
    """Seconds until one more is allowed, or None when it is allowed now (``times``: earlier ones)."""
    start = now - timedelta(seconds=window_s)
    recent = sorted(t for t in times if t > start)
    if len(recent) < limit:
        return None
    return (recent[len(recent) - limit] - start).total_seconds()
