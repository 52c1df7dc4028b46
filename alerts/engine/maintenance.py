"""Maintenance plans and windows (pure: decisions that take ``now``), and the visits query the reports read.

- **A window** (site file or API) covers its asset from ``start`` to ``end``. A new alert on that asset
  during it (``decide_window``): a RED is notified as always, and the window is noted on its ticket's
  timeline; a finding the technician's work causes (the car on inspection, 检修) is expected: no alert
  at all; anything else is recorded "during maintenance" (``suppressed_by``), with no ticket, nobody told.
- **A plan** (``decide_plan``): a visit at least every ``interval_days`` since the last recorded visit
  (or the plan's ``last_visit``; with neither, the plan is overdue: record a visit), and an inspection
  certificate that is not within ``CERTIFICATE_WARN_DAYS`` of its expiry. Either failing is a YELLOW
  finding (``maintenance.overdue``, ``maintenance.certificate_expiring``) that a visit, or a renewed
  certificate in the site file, clears.
- **The owners** of the asset's building hear of a window the day before it starts (``ANNOUNCE_BEFORE``;
  at once when it is planned later than that) and when it is over (``due_announcements``), through the
  outbox: quiet hours hold them until morning. Owners who were told of one of the API's windows hear when
  it is cancelled before it began or moved (``decide_change``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection

from alerts.engine.maintenance_db import Visit, stored_visits, stored_windows
from alerts.engine.report_figures import ServiceVisit
from facwatch.model import Asset, Level, MaintenancePlan, MaintenanceWindow, Site

OVERDUE = "maintenance.overdue"
CERTIFICATE = "maintenance.certificate_expiring"
PLAN_KINDS = (OVERDUE, CERTIFICATE)
CERTIFICATE_WARN_DAYS = 30
ANNOUNCE_BEFORE = timedelta(days=1)
ANNOUNCE_DONE_WITHIN = timedelta(days=1)
"""A window that ended longer ago than this (a restart, an old site-file entry) is not announced any more."""
EXPECTED_KINDS = frozenset({"elevator.inspection_mode"})
"""Findings that a technician at work causes by design."""
EXPECTED_CHANNELS = ("inspection_mode",)
"""A finding made while one of these was set (the asset's fused values) is the technician's doing."""

# --- a new alert during a window ------------------------------------------------------------------------


class WindowChange(StrEnum):
    NOTIFY = "notify"
    RECORD = "record"
    DROP = "drop"


class WindowReason(StrEnum):
    NO_WINDOW = "notified: no maintenance window"
    RED_NOTIFIED = "notified: a RED is notified during maintenance too"
    DURING = "recorded, not notified: during maintenance"
    EXPECTED = "no alert: on inspection during maintenance, as planned"


@dataclass(frozen=True, slots=True)
class WindowFacts:
    level: Level
    kind: str
    window: MaintenanceWindow | None
    """The window that covers the finding's asset at its time, if any."""
    detail: Mapping[str, object] = field(default_factory=dict)
    """The asset's fused values when the finding was made."""


def decide_window(facts: WindowFacts, now: datetime) -> tuple[WindowChange, WindowReason]:
    """What a maintenance window does to a new alert. Safety first: a RED is always notified."""
    del now  # the window was chosen for the finding's own time
    if facts.window is None:
        return WindowChange.NOTIFY, WindowReason.NO_WINDOW
    if facts.level is Level.RED:
        return WindowChange.NOTIFY, WindowReason.RED_NOTIFIED
    detail = dict(facts.detail)
    if facts.kind in EXPECTED_KINDS or any(_truthy(detail.get(c)) for c in EXPECTED_CHANNELS):
        return WindowChange.DROP, WindowReason.EXPECTED
    return WindowChange.RECORD, WindowReason.DURING


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, int | float) and value >= 0.5)


def covering(windows: Iterable[MaintenanceWindow], asset: str, when: datetime) -> MaintenanceWindow | None:
    """The window covering ``asset`` at ``when`` (the earliest to start, if several)."""
    found = sorted((w for w in windows if w.covers(asset, when)), key=lambda w: (w.start, w.ref))
    return found[0] if found else None


def during_note(window: MaintenanceWindow) -> str:
    """What an alert recorded during a window says (``suppressed_by``, at most 100 characters)."""
    return f"during maintenance {window.ref} {window.what}".strip()[:100]


# --- the plan's clock ------------------------------------------------------------------------------------


class PlanReason(StrEnum):
    VISITED = "in time: visited within the plan's interval"
    OVERDUE = "overdue: no visit within the plan's interval"
    NEVER_VISITED = "overdue: no visit on record"
    CERTIFICATE_VALID = "certificate valid for more than 30 days"
    CERTIFICATE_EXPIRING = "certificate expires within 30 days"
    CERTIFICATE_EXPIRED = "certificate expired"
    NO_CERTIFICATE = "no certificate kept"


@dataclass(frozen=True, slots=True)
class PlanStatus:
    """What a plan says at ``now``: per plan finding kind, whether it holds, and why."""

    overdue: bool
    overdue_reason: PlanReason
    due_at: datetime | None
    expiring: bool
    certificate_reason: PlanReason

    def active(self, kind: str) -> bool:
        return self.overdue if kind == OVERDUE else self.expiring

    def summary(self, kind: str, plan: MaintenancePlan) -> str:
        if kind == OVERDUE:
            due = "" if self.due_at is None else f" (due {self.due_at:%Y-%m-%d})"
            return f"Maintenance {self.overdue_reason.value}{due}, every {plan.interval_days:g} days"
        expires = "" if plan.certificate_expires is None else f" on {plan.certificate_expires:%Y-%m-%d}"
        return f"Inspection certificate {plan.certificate}: {self.certificate_reason.value}{expires}".replace(
            "  ", " "
        )


def decide_plan(plan: MaintenancePlan, last_recorded: datetime | None, now: datetime) -> PlanStatus:
    """Whether ``plan`` is overdue and its certificate expiring at ``now``."""
    last = max((t for t in (last_recorded, plan.last_visit) if t is not None), default=None)
    if last is None:
        overdue, reason, due = True, PlanReason.NEVER_VISITED, None
    else:
        due = last + timedelta(days=plan.interval_days)
        overdue = now >= due
        reason = PlanReason.OVERDUE if overdue else PlanReason.VISITED
    expires = plan.certificate_expires
    if expires is None:
        expiring, creason = False, PlanReason.NO_CERTIFICATE
    elif now >= expires:
        expiring, creason = True, PlanReason.CERTIFICATE_EXPIRED
    elif expires - now <= timedelta(days=CERTIFICATE_WARN_DAYS):
        expiring, creason = True, PlanReason.CERTIFICATE_EXPIRING
    else:
        expiring, creason = False, PlanReason.CERTIFICATE_VALID
    return PlanStatus(overdue, reason, due, expiring, creason)


# --- telling the owners ----------------------------------------------------------------------------------


class Moment(StrEnum):
    PLANNED = "planned"
    """The day before: the asset will be under maintenance (owners may plan around it)."""
    DONE = "done"
    """The window is over: the asset is back in service."""
    CANCELLED = "cancelled"
    """A window the owners were told of was cancelled before it began."""
    MOVED = "moved"
    """A window the owners were told of was moved to another time (``Announcement.was``: the one told)."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """Owners of ``asset``'s building are told about ``window`` (the notify side chooses words and people)."""

    key: str
    site: str
    moment: Moment
    window: MaintenanceWindow
    asset: Asset
    company: str
    """The company's name, or empty."""
    at: datetime
    was: datetime | None = None
    """For ``MOVED``: the start the owners were told before."""


def due_announcements(window: MaintenanceWindow, now: datetime) -> tuple[Moment, ...]:
    """What is due about ``window`` at ``now`` (each is sent once: the outbox keys make repeats no-ops)."""
    if window.start - ANNOUNCE_BEFORE <= now < window.start:
        return (Moment.PLANNED,)
    if window.end <= now < window.end + ANNOUNCE_DONE_WITHIN:
        return (Moment.DONE,)
    return ()


@dataclass(frozen=True, slots=True)
class Told:
    """The owners were told of window ``ref`` starting at ``start`` (the minute in the outbox key)."""

    ref: str
    start: datetime
    asset: str = ""
    """The asset the notice was about (the outbox row's)."""
    end: datetime | None = None
    """The end they were told (site-file windows' keys carry it; None in the API's and in older keys)."""


class ChangeReason(StrEnum):
    SAME = "nothing to tell: the window is as the owners were told"
    CANCELLED = "cancelled before it began: the owners who were told hear it is off"
    CANCELLED_LATE = "cancelled after it began, or long ago: nothing more to tell"
    MOVED = "moved: the owners who were told hear the new time"
    MOVED_PAST = "moved, but the new time has begun: the end is told as usual"
    MOVED_AFTER_TOLD_BEGAN = "a new time after the one told had begun: a new window, told the day before"
    SAME_ELSEWHERE = "nothing to tell: the same asset and start under another ref (a ref added, an old S-n)"
    GONE_UNKNOWN = "gone from the site file, told before facwatch kept its end: nothing to tell"


def decide_change(
    told: Told, window: MaintenanceWindow, cancelled_at: datetime | None, now: datetime
) -> tuple[Moment | None, ChangeReason]:
    """What the owners who were told of a window hear when it was cancelled or moved since."""
    if cancelled_at is not None:
        if cancelled_at < window.start and now < window.start + ANNOUNCE_DONE_WITHIN:
            return Moment.CANCELLED, ChangeReason.CANCELLED
        return None, ChangeReason.CANCELLED_LATE
    if window.start.replace(second=0, microsecond=0) == told.start:
        return None, ChangeReason.SAME
    if now >= window.start:
        return None, ChangeReason.MOVED_PAST
    if now >= told.start:  # e.g. a site-file entry's ref used again for the next visit
        return None, ChangeReason.MOVED_AFTER_TOLD_BEGAN
    return Moment.MOVED, ChangeReason.MOVED


def from_site_file(ref: str) -> bool:
    """``S-…`` (the site file's windows) rather than ``W-000001`` (the API's)."""
    return ref.startswith("S-")


def _minute(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y%m%dT%H%M}"


def window_key(site: str, window: MaintenanceWindow, moment: Moment) -> str:
    """The outbox key of an announcement: ``maint:<site>:<ref>:<start>:<moment>``; a site-file window's
    also carries its end, so that its removal from the file can still be told with the time told."""
    key = f"maint:{site}:{window.ref}:{_minute(window.start)}:{moment.value}"
    return f"{key}:{_minute(window.end)}" if from_site_file(window.ref) else key


def parse_key(site: str, key: str, asset: str = "") -> tuple[Told, Moment] | None:
    """What an announcement's outbox key (with its audience's suffix) says was told, or None."""
    prefix = f"maint:{site}:"
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split(":")
    if len(parts) < 3 or parts[2] not in Moment.__members__.values():
        return None
    start = _parse_minute(parts[1])
    if start is None:
        return None
    end = _parse_minute(parts[3]) if len(parts) > 3 else None  # a long key's hashed tail: no end
    return Told(parts[0], start, asset, end), Moment(parts[2])


def _parse_minute(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def change_key(site: str, window: MaintenanceWindow, moment: Moment, now: datetime) -> str:
    """The outbox key of a change: a move to a start within a day takes the day-before notice's key (it
    says the same and more), a later one its own (the day-before notice still reminds them)."""
    if moment is Moment.MOVED and window.start - ANNOUNCE_BEFORE <= now:
        return window_key(site, window, Moment.PLANNED)
    return window_key(site, window, moment)


def decide_site_change(
    told: Told, windows: Sequence[MaintenanceWindow], now: datetime
) -> tuple[MaintenanceWindow | None, Moment | None, ChangeReason]:
    """What the owners who were told of a site-file window hear, the file being ``windows`` now.

    The window is found by its ref (an entry's own ``ref`` survives any edit: a new time is a move); else
    by its asset and start (the same window under a new ref: a ``ref`` added, or told as ``S-<n>`` by an
    older facwatch). Gone from the file, it was cancelled when facwatch read the file (``now``)."""
    same_ref = next((w for w in windows if w.ref == told.ref), None)
    if same_ref is not None:
        return (same_ref, *decide_change(told, same_ref, None, now))
    minute = told.start.replace(second=0, microsecond=0)
    same = next(
        (w for w in windows if w.asset == told.asset and w.start.replace(second=0, microsecond=0) == minute),
        None,
    )
    if same is not None:
        return same, None, ChangeReason.SAME_ELSEWHERE
    if told.end is None:
        return None, None, ChangeReason.GONE_UNKNOWN
    gone = MaintenanceWindow(told.ref, told.asset, told.start, told.end)
    return (gone, *decide_change(told, gone, now, now))


@runtime_checkable
class Announcer(Protocol):
    """Writes announcements to owners into the outbox, in the caller's transaction (``OutboxNotifier``)."""

    def announce(self, conn: Connection, announcements: Sequence[Announcement], now: datetime) -> int: ...

    def withdraw(self, conn: Connection, keys: Sequence[str], now: datetime) -> int:
        """Withdraw the notifications under ``keys`` that are still held (quiet hours), unsent; returns
        how many were withdrawn (one already released, or sent, stays: it was told)."""
        ...


# --- the reports' query ----------------------------------------------------------------------------------


def visits(
    conn: Connection, site: str, since: datetime, until: datetime, building: str | None = None
) -> list[Visit]:
    """The maintenance visits recorded at ``site`` from ``since`` up to ``until`` (of ``building``), by time."""
    return stored_visits(conn, site, since, until, building=building)


def service_visits(
    conn: Connection, site: str, since: datetime, until: datetime, building: str | None = None
) -> list[ServiceVisit]:
    """The recorded visits as the owners' reports count them (``report_figures.VisitSource``)."""
    return [
        ServiceVisit(v.asset, v.at, v.kind, v.who, v.what)
        for v in stored_visits(conn, site, since, until, building=building)
    ]


__all__ = [
    "CERTIFICATE",
    "OVERDUE",
    "Announcement",
    "Announcer",
    "ChangeReason",
    "Moment",
    "PlanStatus",
    "Told",
    "Visit",
    "WindowChange",
    "WindowFacts",
    "change_key",
    "covering",
    "decide_change",
    "decide_plan",
    "decide_site_change",
    "decide_window",
    "due_announcements",
    "from_site_file",
    "parse_key",
    "service_visits",
    "visits",
    "window_at",
    "window_key",
]


def window_at(conn: Connection, site: Site, asset: str, when: datetime) -> MaintenanceWindow | None:
    """The window (site file or API) covering ``asset`` at ``when``, if any."""
    stored = stored_windows(conn, site.id, asset=asset, at=when)
    return covering([*site.maintenance.windows, *stored], asset, when)
