"""Who is on call (pure): the site's rota by building and asset kind, staffed day hours and night duty.

The most specific ``[[rota]]`` entry wins (building and asset kind, then building, then asset kind, then
the catch-all); its ``day`` person is on call in the staffed hours (site time zone, ``day_hours``,
08:00–20:00 by default), its ``night`` person otherwise. No entry for the asset: the site's ``fallback``
person; no fallback either: the first of the escalation chain.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from facwatch.model import AssetKind, Person, RotaEntry, Site


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
