"""Scripted incidents: what the staff and an owners' group receive, notice by notice, for the template
checker (``EVERY_MOMENT``: every moment of a ticket) and for the conversations page of docs/notifications.md
(``SCRIPTS``: an entrapment, a pipe burst, a power cut). Pure: the messages come from the same ``Planner``
the notifier uses, with the site file's names and realistic values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.audiences import OWNERS, Outgoing, Planner
from alerts.notify.messages import LANGS, Message, Templates
from facwatch.config import NotifySettings
from facwatch.model import Level, Site

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai, a Monday: the scripted incidents' start."""


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of a scripted incident, ``minute`` minutes after it began."""

    minute: float
    kind: NoticeKind
    action: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)
    """Per language where the words differ (``{"zh": {...}, "en": {...}}``) or the same for all."""
    note: str | Mapping[str, str] = ""
    """The person's words, per language where they differ."""


@dataclass(frozen=True, slots=True)
class Script:
    title: str
    asset: str
    finding: str
    level: Level
    steps: tuple[Step, ...]


def _eta(minute: float) -> dict[str, object]:
    return {"eta": START + timedelta(minutes=minute)}


EVERY_MOMENT = (
    Step(0, NoticeKind.OPENED),
    Step(1, NoticeKind.ACTION, "acknowledge"),
    Step(2, NoticeKind.ACTION, "dispatch", {"assignee": "eng-wang", **_eta(90)}),
    Step(10, NoticeKind.ACTION, "check_in"),
    Step(30, NoticeKind.ACTION, "progress", {"percent": 50, **_eta(42)}),
    Step(35, NoticeKind.ACTION, "progress", {"percent": 60}),
    Step(40, NoticeKind.ACTION, "plan_b", {"plan_b": "保安在楼梯口协助上下楼。", **_eta(120)}),
    Step(120, NoticeKind.ESCALATED, None, {"reason": "escalated: fix clock ran out", "step": 1}),
    Step(150, NoticeKind.ACTION, "resolve", note="更换了损坏的部件"),
    Step(1590, NoticeKind.FOLLOW_UP),
)
"""Every moment an owner may hear of, for the checker."""
JOINED_ON_SITE = Step(
    20,
    NoticeKind.OPENED,
    None,
    {"acknowledged_at": START + timedelta(minutes=1), "on_site_at": START + timedelta(minutes=10)},
)
"""Another alert joins the ticket while its engineer is on site: the engineer's words ask for no check-in."""

SCRIPTS = (
    Script(
        "An entrapment (RED)",
        "b1-elev-1",
        "elevator.entrapment",
        Level.RED,
        (
            Step(0, NoticeKind.OPENED),
            Step(1, NoticeKind.ACTION, "dispatch", {"assignee": "eng-wang"}),
            Step(9, NoticeKind.ACTION, "check_in"),
            Step(16, NoticeKind.ACTION, "resolve", note={
                "zh": "轿厢停在5楼与6楼之间，已手动平层放人，并更换了门锁回路继电器",
                "en": "the car stopped between floors 5 and 6; we levelled it by hand, let everyone out and "
                      "replaced the door-lock circuit relay",
            }),
            Step(1456, NoticeKind.FOLLOW_UP),
        ),
    ),
    Script(
        "A pipe burst (RED)",
        "b1-pump-1",
        "pump.pipe_burst",
        Level.RED,
        (
            Step(0, NoticeKind.OPENED),
            Step(2, NoticeKind.ACTION, "dispatch", {"assignee": "eng-wang", **_eta(90)}),
            Step(15, NoticeKind.ACTION, "check_in"),
            Step(
                30,
                NoticeKind.ACTION,
                "plan_b",
                {
                    "zh": {"plan_b": "1号楼大堂已设临时供水点，全天有人值守。", **_eta(120)},
                    "en": {"plan_b": "a temporary water point is open in the Building 1 lobby, staffed all day.",
                           **_eta(120)},
                },
            ),
            Step(108, NoticeKind.ACTION, "progress", {"percent": 50, **_eta(120)}),
            Step(118, NoticeKind.ACTION, "resolve", note={
                "zh": "地下室供水主管的接头锈蚀开裂，已更换接头并冲洗管道",
                "en": "a corroded joint of the main supply pipe in the basement had cracked; we replaced it and "
                      "flushed the pipes",
            }),
            Step(1558, NoticeKind.FOLLOW_UP),
        ),
    ),
    Script(
        "A power cut (RED)",
        "b1-panel",
        "power.outage",
        Level.RED,
        (
            Step(0, NoticeKind.OPENED),
            Step(1, NoticeKind.ACTION, "acknowledge"),
            Step(12, NoticeKind.ACTION, "check_in"),
            Step(60, NoticeKind.ESCALATED, None, {"reason": "escalated: fix clock ran out", "step": 1}),
            Step(
                65,
                NoticeKind.ACTION,
                "plan_b",
                {
                    "zh": {"plan_b": "电梯已切换到备用电源，楼道应急照明已开启。", **_eta(150)},
                    "en": {"plan_b": "the elevators run on the standby supply and the stairwell emergency "
                           "lights are on.", **_eta(150)},
                },
            ),
            Step(120, NoticeKind.ACTION, "progress", {"percent": 80, **_eta(150)}),
            Step(146, NoticeKind.ACTION, "resolve", note={
                "zh": "配电柜进线开关触头烧蚀跳闸，已更换开关",
                "en": "the panel's incoming breaker had burnt contacts and tripped; we replaced it",
            }),
            Step(1586, NoticeKind.FOLLOW_UP),
        ),
    ),
)  # fmt: skip


def _detail(step: Step, lang: str) -> dict[str, object]:
    if set(step.detail) <= set(LANGS) and step.detail:
        chosen = step.detail.get(lang)
        return dict(chosen) if isinstance(chosen, Mapping) else {}
    return dict(step.detail)


def conversation(
    site: Site,
    templates: Templates,
    script: Script,
    lang: str,
    settings: NotifySettings | None = None,
    steps: Sequence[Step] | None = None,
    *,
    once: bool = True,
) -> list[tuple[Notice, list[Outgoing]]]:
    """What each notice of ``script`` sends (staff and the owners' group of the asset's building, in ``lang``);
    an owner message the outbox already holds (the same key: "on the way" once per ticket) is left out
    unless ``once`` is False (the checker renders everything)."""
    asset = site.asset(script.asset)
    if asset is None:
        raise ValueError(f"the site has no asset {script.asset!r}")
    chosen = settings or NotifySettings(owner_levels=["red", "orange", "yellow", "blue"], quiet_hours=False)
    groups = tuple(dataclasses.replace(g, lang=lang) for g in site.owners_of(asset.building))
    people = tuple(dataclasses.replace(p, lang=lang) for p in site.people)
    local = dataclasses.replace(site, owners=groups, people=people)
    planner = Planner(local, chosen, templates)
    staff = people[:1]
    out = []
    seen: set[str] = set()
    for i, step in enumerate(steps or script.steps):
        at = START + timedelta(minutes=step.minute)
        detail = {"finding": script.finding, "opened_at": START, **_detail(step, lang)}
        if step.kind is NoticeKind.OPENED:
            detail |= {"ack_due": START + timedelta(minutes=1), "on_site_due": START + timedelta(minutes=15)}
        notice = Notice(
            kind=step.kind,
            key=f"T-000001:{i}",
            site=site.id,
            ticket_pk=1,
            ticket="T-000001",
            asset=asset,
            level=script.level,
            summary=f"{asset.id}: {script.finding}",
            at=at,
            staff=staff if step.kind is not NoticeKind.FOLLOW_UP else (),
            action=step.action,
            actor="eng-wang" if step.kind is NoticeKind.ACTION else None,
            note=step.note if isinstance(step.note, str) else step.note.get(lang, ""),
            detail=detail,
        )
        items = [
            i for i in planner.plan(notice) if not once or i.key not in seen
        ]  # the outbox keeps one per key
        seen |= {i.key for i in items}
        out.append((notice, items))
    return out


def owner_messages(
    site: Site, templates: Templates, script: Script, lang: str
) -> list[tuple[datetime, Message]]:
    """The owners' side of a scripted incident: when, and what their group reads."""
    return [
        (notice.at, Message(item.title, item.body))
        for notice, items in conversation(site, templates, script, lang)
        for item in items
        if item.audience == OWNERS
    ]


__all__ = [
    "EVERY_MOMENT",
    "JOINED_ON_SITE",
    "SCRIPTS",
    "START",
    "Script",
    "Step",
    "conversation",
    "owner_messages",
]
