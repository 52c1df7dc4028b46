"""The figures of the owners' reports, read from the state database (and the telemetry store's history).

Three reports (docs/reports.md): the monthly invisible-service list of a building, the targeted repair report
of a YELLOW recurrence once it is fixed, and the quarterly publication of a compound. Each is a frozen value
built by a pure function (``monthly``, ``repair``, ``quarterly``) from rows that a ``read_*`` shell function
loads; SLA figures come from ``alerts.engine.reports.sla_figures``, never computed twice.

Maintenance visits belong to the maintenance plans (another module): the reports take them through a
``VisitSource`` callable, and count none when there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from alerts.engine.clocks import Clock
from alerts.engine.periods import Period, local_days
from alerts.engine.policy import RECURRENCE_SUFFIX
from alerts.engine.ports import SlaFigures
from alerts.engine.reports import percentile
from facwatch.config import SlaSettings
from facwatch.model import AssetKind, Level, Site, TicketEvent

RECURRENCE_WINDOW = timedelta(days=30)
"""A recurrence counts the same problem on the same asset within 30 days (ARCHITECTURE.md)."""
CHART_CHANNEL: Mapping[str, str] = {
    AssetKind.ELEVATOR.value: "vibration_rms_g",
    AssetKind.PUMP.value: "discharge_pressure_bar",
    AssetKind.POWER.value: "voltage_l1_v",
}
"""The channel a repair report charts when the finding's kind names none of the asset's channels."""


@dataclass(frozen=True, slots=True)
class ServiceVisit:
    """A maintenance visit or an inspection, as the reports count it."""

    asset: str
    at: datetime
    kind: str = "maintenance"
    """``maintenance`` or ``inspection``."""
    by: str = ""
    note: str = ""


VisitSource = Callable[[Connection, str, datetime, datetime, str | None], Sequence[ServiceVisit]]
"""``visits(conn, site, since, until, building)``: the visits done in ``[since, until)``."""


@dataclass(frozen=True, slots=True)
class Repair:
    """A ticket as the reports see it: when it was answered, reached and fixed, and what it cost."""

    ref: str
    asset: str
    building: str
    kind: str
    level: Level
    category: str
    title: str
    created_at: datetime
    acknowledged_at: datetime | None
    on_site_at: datetime | None
    fixed_at: datetime | None
    cost: float | None

    def _since(self, when: datetime | None) -> float | None:
        return None if when is None else max((when - self.created_at).total_seconds(), 0.0)

    @property
    def response_s(self) -> float | None:
        return self._since(self.acknowledged_at)

    @property
    def on_site_s(self) -> float | None:
        return self._since(self.on_site_at)

    @property
    def fix_s(self) -> float | None:
        return self._since(self.fixed_at)


@dataclass(frozen=True, slots=True)
class AssetMonth:
    asset: str
    name: str
    kind: str
    hours_run: float | None
    """Hours the machine ran (its ``running`` channel), None when the store holds nothing."""
    visits: int
    incidents: int
    trips: int | None = None
    """Trips an elevator made (its ``running`` flag rising), None for other machines or no history."""


@dataclass(frozen=True, slots=True)
class MonthlyFigures:
    site: str
    building: str
    period: Period
    visits: tuple[ServiceVisit, ...]
    assets: tuple[AssetMonth, ...]
    incidents: tuple[Repair, ...]
    fault_free_days: int
    days: int
    response_p50_s: float | None
    fix_p50_s: float | None

    @property
    def maintenance_visits(self) -> int:
        return sum(1 for v in self.visits if v.kind != "inspection")

    @property
    def inspections(self) -> int:
        return sum(1 for v in self.visits if v.kind == "inspection")


@dataclass(frozen=True, slots=True)
class RepairFigures:
    site: str
    ticket: Repair
    base_kind: str
    occurrences: tuple[datetime, ...]
    """When the problem happened (its alerts) in the 30 days up to the rectification order."""
    timeline: tuple[TicketEvent, ...]
    channel: str
    before: tuple[tuple[datetime, float], ...]
    after: tuple[tuple[datetime, float], ...]

    @property
    def before_mean(self) -> float | None:
        return sum(v for _, v in self.before) / len(self.before) if self.before else None

    @property
    def after_mean(self) -> float | None:
        return sum(v for _, v in self.after) / len(self.after) if self.after else None


@dataclass(frozen=True, slots=True)
class CategoryLine:
    category: str
    repairs: int
    previous_repairs: int
    cost: float
    previous_cost: float


@dataclass(frozen=True, slots=True)
class SlaTarget:
    level: Level
    acknowledge_s: float | None
    on_site_s: float | None
    fixed_s: float | None


@dataclass(frozen=True, slots=True)
class QuarterlyFigures:
    site: str
    period: Period
    previous: Period
    categories: tuple[CategoryLine, ...]
    sla: tuple[SlaFigures, ...]
    previous_sla: tuple[SlaFigures, ...]
    targets: tuple[SlaTarget, ...]
    repairs: int
    previous_repairs: int
    cost: float
    previous_cost: float


# --- pure figures ---------------------------------------------------------------------------------------


Span = tuple[datetime, datetime | None]
"""When a fault (an alert) began and ended (None: not yet)."""


def rising_edges(values: Sequence[float], before: float | None = None) -> int:
    """How often a 0/1 flag rose (a trip: an elevator's ``running`` flag), after ``before``."""
    count, last = 0, before
    for v in values:
        if last is not None and last < 0.5 <= v:
            count += 1
        last = v
    return count


def fault_free_days(faults: Sequence[Span], days: Sequence[tuple[datetime, datetime]]) -> int:
    """Days on which no fault was present (began before the day ended, did not end before it began)."""
    free = 0
    for start, end in days:
        if not any(began < end and (ended is None or ended > start) for began, ended in faults):
            free += 1
    return free


def monthly(
    site: Site,
    building: str,
    period: Period,
    repairs: Sequence[Repair],
    faults: Sequence[Span],
    visits: Sequence[ServiceVisit],
    hours: Mapping[str, float | None],
    trips: Mapping[str, int | None] | None = None,
) -> MonthlyFigures:
    """``repairs``: the building's tickets opened in the month; ``faults``: its alerts present in the month;
    ``hours``: hours run per asset; ``trips``: trips per elevator."""
    days = local_days(period, site.timezone)
    opened = tuple(r for r in repairs if period.start <= r.created_at < period.end)
    assets = tuple(
        AssetMonth(
            asset=a.id,
            name=a.name,
            kind=a.kind.value,
            hours_run=hours.get(a.id),
            visits=sum(1 for v in visits if v.asset == a.id),
            incidents=sum(1 for r in opened if r.asset == a.id),
            trips=(trips or {}).get(a.id),
        )
        for a in site.assets
        if a.building == building
    )
    return MonthlyFigures(
        site=site.id,
        building=building,
        period=period,
        visits=tuple(sorted(visits, key=lambda v: v.at)),
        assets=assets,
        incidents=opened,
        fault_free_days=fault_free_days(faults, days),
        days=len(days),
        response_p50_s=percentile([s for r in opened if (s := r.response_s) is not None], 50),
        fix_p50_s=percentile([s for r in opened if (s := r.fix_s) is not None], 50),
    )


def repair(
    site: str,
    ticket: Repair,
    occurrences: Sequence[datetime],
    timeline: Sequence[TicketEvent],
    channel: str,
    readings: Sequence[tuple[datetime, float]],
) -> RepairFigures:
    """Split the readings at the fix: before it (the problem) and after it (the proof)."""
    if ticket.fixed_at is None:
        raise ValueError(f"{ticket.ref} is not fixed yet: a repair report follows the fix")
    fixed = ticket.fixed_at
    return RepairFigures(
        site=site,
        ticket=ticket,
        base_kind=ticket.kind.removesuffix(RECURRENCE_SUFFIX),
        occurrences=tuple(sorted(occurrences)),
        timeline=tuple(timeline),
        channel=channel,
        before=tuple(p for p in readings if p[0] < fixed),
        after=tuple(p for p in readings if p[0] >= fixed),
    )


def _by_category(repairs: Sequence[Repair]) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for r in repairs:
        n, cost = out.get(r.category, (0, 0.0))
        out[r.category] = (n + 1, cost + (r.cost or 0.0))
    return out


def sla_targets(sla: SlaSettings) -> tuple[SlaTarget, ...]:
    def get(level: Level, clock: Clock) -> float | None:
        value: float | None = getattr(sla, f"{level.value}_{clock.value}_s")
        return value

    return tuple(
        SlaTarget(lv, get(lv, Clock.ACKNOWLEDGE), get(lv, Clock.ON_SITE), get(lv, Clock.FIXED))
        for lv in Level
    )


def quarterly(
    site: str,
    period: Period,
    before: Period,
    repairs: Sequence[Repair],
    previous_repairs: Sequence[Repair],
    sla: Sequence[SlaFigures],
    previous_sla: Sequence[SlaFigures],
    targets: Sequence[SlaTarget],
) -> QuarterlyFigures:
    now, then = _by_category(repairs), _by_category(previous_repairs)
    categories = tuple(
        CategoryLine(c, now.get(c, (0, 0.0))[0], then.get(c, (0, 0.0))[0], now.get(c, (0, 0.0))[1],
                     then.get(c, (0, 0.0))[1])
        for c in sorted(set(now) | set(then))
    )  # fmt: skip
    return QuarterlyFigures(
        site=site,
        period=period,
        previous=before,
        categories=categories,
        sla=tuple(sla),
        previous_sla=tuple(previous_sla),
        targets=tuple(targets),
        repairs=len(repairs),
        previous_repairs=len(previous_repairs),
        cost=sum(r.cost or 0.0 for r in repairs),
        previous_cost=sum(r.cost or 0.0 for r in previous_repairs),
    )


def category_of(site: Site, asset: str, kind: str, category: str | None) -> str:
    """An owner's category as given; a sensor ticket's is its machine's kind (elevator, pump, power)."""
    if category:
        return category
    found = site.asset(asset)
    return found.kind.value if found is not None else kind.split(".", 1)[0]
