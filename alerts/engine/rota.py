"""Who is on call (pure): the site's rota by building and asset kind, staffed day hours and night duty.

The most specific ``[[rota]]`` entry wins (building and asset kind, then building, then asset kind, then
the catch-all); its ``day`` person is on call in the staffed hours (site time zone, ``day_hours``,
08:00–20:00 by default), its ``night`` person otherwise. No entry for the asset: the site's ``fallback``
person; no fallback either: the first of the escalation chain.

Day hours for non-urgent work (``plan_work``): a YELLOW or BLUE ticket created at night is planned for the
start of the next day-hours slot: its people are told then (the day person), and its clocks start then.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from facwatch.model import AssetKind, Level, Person, RotaEntry, Site

DAY_WORK = frozenset({Level.YELLOW, Level.BLUE})
"""Non-urgent work: created at night, it waits for the next day-hours slot. RED and ORANGE never wait."""


def _rank(entry: RotaEntry, building: str | None, kind: AssetKind | None) -> int | None:
    if entry.building is not None and entry.building != building:
        return None
    if entry.asset_kind is not None and entry.asset_kind is not kind:
        return None
    return (2 if entry.building is not None else 0) + (1 if entry.asset_kind is not None else 0)


def is_day(site: Site, when: datetime) -> bool:
    hour = when.astimezone(ZoneInfo(site.timezone)).hour
    return site.day_hours[0] <= hour < site.day_hours[1]


def on_call(site: Site, building: str | None, kind: AssetKind | None, when: datetime) -> Person | None:
    """The person to tell first about a new ticket in ``building`` on an asset of ``kind`` at ``when``."""
    ranked = [(r, i, e) for i, e in enumerate(site.rota) if (r := _rank(e, building, kind)) is not None]
    if ranked:
        _r, _i, entry = max(ranked, key=lambda t: (t[0], -t[1]))  # most specific; the first among equals
        person = site.person(entry.day if is_day(site, when) else entry.night)
        if person is not None:
            return person
    if site.fallback is not None and (fallback := site.person(site.fallback)) is not None:
        return fallback
    chain = site.escalation_chain()
    return chain[0] if chain else None


class WorkReason(StrEnum):
    URGENT = "at once: RED and ORANGE never wait"
    DAY = "at once: within day hours"
    NIGHT = "planned: non-urgent work created at night waits for day hours"


def next_day_start(site: Site, when: datetime) -> datetime:
    """The start of the next day-hours slot at or after ``when`` (site time zone)."""
    zone = ZoneInfo(site.timezone)
    local = when.astimezone(zone)
    day = local.date() if local.hour < site.day_hours[0] else local.date() + timedelta(days=1)
    return datetime.combine(day, time(site.day_hours[0]), tzinfo=zone).astimezone(when.tzinfo or zone)


def plan_work(site: Site, level: Level, when: datetime) -> tuple[datetime | None, WorkReason]:
    """When a new ticket of ``level`` created at ``when`` is worked on: None (at once) or the planned time."""
    if level not in DAY_WORK:
        return None, WorkReason.URGENT
    if is_day(site, when):
        return None, WorkReason.DAY
    return next_day_start(site, when), WorkReason.NIGHT
