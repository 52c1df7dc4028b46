"""The escalation ladder of owners' chat: pure functions of the recent messages' figures and ``now``.

Rungs (defaults from practice, per site in ``[chat]``, docs/owners.md):
- ``owners.complaints``: ``steward_keywords`` complaint keywords or more in one group within ``window_s``
  call the building's steward (管家);
- ``owners.mood``: a negative mood lasting ``mood_s`` in one group (its newest run of messages without
  praise, more than half negative, began ``mood_s`` ago or earlier) calls the project manager;
- ``owners.crisis``: ``crisis_groups`` groups or more at the steward's rung at once: a crisis (RED), with the
  emergency plan;
- a complaint about a kind of machine joins the ticket of an open alert of that kind in the building;
  when no alert agrees within ``silent_s``, ``owners.sensors_silent`` is raised on the machine (a sensor
  may have failed).

Every rung is judged at ``now`` and given as a finding that is active or not; the engine opens an alert
once per condition and resolves it when the condition ends. The findings of a building are about the
building's pseudo asset ``owners-<building>`` (the site's pseudo asset ``owners`` for a crisis).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from alerts.detection.chat.analyse import Mood
from facwatch.model import (
    OWNERS_ASSET,
    Asset,
    AssetKind,
    ChatPolicy,
    Finding,
    Level,
    Person,
    Site,
    ms_from_utc,
)

STEWARD, MOOD, CRISIS, SILENT = "owners.complaints", "owners.mood", "owners.crisis", "owners.sensors_silent"
_UNIT = re.compile(r"([0-9一二三四五六七八九])\s*单元")


def owners_asset(building: str) -> str:
    return f"{OWNERS_ASSET}-{building}"


@dataclass(frozen=True, slots=True)
class Figures:
    """What is kept of one message after its text is gone: never who sent it."""

    group: str
    building: str
    at: datetime
    complaint: bool
    keywords: int
    asset_kind: AssetKind | None
    mood: Mood
    unit: int | None = None
    """The unit (单元) the message names, if any: picks the machine among several of a kind."""


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """An open alert of the site, as the ladder needs it."""

    asset: str
    kind: str
    ticket_id: str | None


class Join(StrEnum):
    JOINED = "joined the ticket of an open alert on that machine"
    WAITING = "no alert on that machine yet: waiting for the sensors"
    SILENT = "no sensor agrees: owners report, sensors silent"
    NO_MACHINE = "no machine of that kind in the building"


def unit_of(text: str) -> int | None:
    found = _UNIT.search(text)
    if found is None:
        return None
    raw = found.group(1)
    return int(raw) if raw.isdigit() else "一二三四五六七八九".index(raw) + 1


def machine(site: Site, building: str, kind: AssetKind, unit: int | None) -> Asset | None:
    """The machine a complaint is about: of its kind in its building, the named unit's when there is one."""
    candidates = [a for a in site.assets if a.building == building and a.kind is kind]
    if unit is not None:
        for asset in candidates:
            if f"{unit}单元" in asset.name or asset.id.endswith(f"-{unit}"):
                return asset
    return candidates[0] if candidates else None


def join(
    figures: Figures, site: Site, firing: Sequence[FiringAlert], silent_s: float, now: datetime
) -> tuple[Join, FiringAlert | Asset | None]:
    """Where a complaint about a machine goes: an open alert's ticket, a wait, or its own finding."""
    if figures.asset_kind is None:
        return Join.NO_MACHINE, None
    kinds = {a.id for a in site.assets if a.building == figures.building and a.kind is figures.asset_kind}
    if not kinds:
        return Join.NO_MACHINE, None
    for alert in firing:
        if alert.asset in kinds and alert.ticket_id is not None:
            return Join.JOINED, alert
    asset = machine(site, figures.building, figures.asset_kind, figures.unit)
    if now - figures.at < timedelta(seconds=silent_s):
        return Join.WAITING, asset
    return Join.SILENT, asset


def steward_groups(recent: Sequence[Figures], policy: ChatPolicy, now: datetime) -> dict[str, int]:
    """Per group at the steward's rung: its complaint keywords within the window."""
    since = now - timedelta(seconds=policy.window_s)
    counts: dict[str, int] = {}
    for f in recent:
        if since < f.at <= now and f.complaint:
            counts[f.group] = counts.get(f.group, 0) + f.keywords
    return {g: n for g, n in counts.items() if n >= policy.steward_keywords}


def mood_groups(recent: Sequence[Figures], policy: ChatPolicy, now: datetime) -> set[str]:
    """Groups whose mood has been negative for ``mood_s``: their newest run of messages with no praise and
    mostly negative ones began ``mood_s`` ago or earlier and holds ``mood_min_messages`` at least."""
    found = set()
    for group in {f.group for f in recent}:
        mine = sorted((f for f in recent if f.group == group and f.at <= now), key=lambda f: f.at)
        start: Figures | None = None
        negative = run = 0
        for count, f in enumerate(reversed(mine), start=1):
            if f.mood is Mood.POSITIVE:
                break
            negative += f.mood is Mood.NEGATIVE
            if negative * 2 > count and f.mood is Mood.NEGATIVE:
                start, run = f, count
        if (
            start is not None
            and run >= policy.mood_min_messages
            and now - start.at >= timedelta(seconds=policy.mood_s)
        ):
            found.add(group)
    return found


def ladder(recent: Sequence[Figures], site: Site, now: datetime) -> list[Finding]:
    """The rungs at ``now``, each as an active or cleared finding (one per group's building and rung)."""
    policy = site.chat
    ts = ms_from_utc(now)
    stewards, moods = steward_groups(recent, policy, now), mood_groups(recent, policy, now)
    findings = []
    for group in policy.groups:
        person = site.person(group.steward) if group.steward else None
        steward = person.name if person else "管家 steward"
        count = stewards.get(group.id, 0)
        findings.append(
            Finding(
                site.id,
                owners_asset(group.building),
                STEWARD,
                ts,
                group.id in stewards,
                Level.YELLOW,
                f"业主群「{group.name}」{count} 个投诉关键词 (1 h): 请{steward}处理 · "
                f"{count} complaint keywords in {group.id} within the hour: {steward} is called",
                value=float(count),
            )
        )
        manager = site.person(policy.manager) if policy.manager else _first_manager(site)
        who = manager.name if manager else "项目经理 project manager"
        findings.append(
            Finding(
                site.id,
                owners_asset(group.building),
                MOOD,
                ts,
                group.id in moods,
                Level.ORANGE,
                f"业主群「{group.name}」负面情绪持续 1 小时: 请{who}介入 · "
                f"negative mood in {group.id} for an hour: {who} is called",
            )
        )
    crisis = len(stewards) >= policy.crisis_groups
    findings.append(
        Finding(
            site.id,
            OWNERS_ASSET,
            CRISIS,
            ts,
            crisis,
            Level.RED,
            f"{len(stewards)} 个业主群同时投诉: 启动应急预案 · complaints in {len(stewards)} groups at once: "
            "start the emergency plan",
            value=float(len(stewards)),
        )
    )
    return findings


def silent_finding(site: Site, asset: Asset, figures: Figures | None, active: bool, now: datetime) -> Finding:
    """Active while a complaint no sensor confirmed stands; cleared otherwise (``figures`` None)."""
    return Finding(
        site.id,
        asset.id,
        SILENT,
        ms_from_utc(now),
        active,
        Level.YELLOW,
        f"业主反映{asset.name}故障，传感器未报警 (传感器可能失效) · owners report {asset.id}, sensors silent "
        "(a sensor may have failed)",
    )


def _first_manager(site: Site) -> Person | None:
    for person in site.people:
        if person.role == "manager":
            return person
    return None
