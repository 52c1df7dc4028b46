"""The template checker of ``facwatch check``, and the scripted incidents that show what owners receive.

Every template is rendered through the same ``Planner`` the notifier uses, for every finding kind the
detectors raise and every moment of a ticket (opened, acknowledged, dispatched, on site, progress with and
without an ETA, plan B, late, resolved, the next-day follow-up), in every language, with realistic values
from the site file. A message fails the check when a ``${placeholder}`` is left, its title is empty, a Chinese
message carries English words (ids, readings, links and units excepted), or it is longer than a WeCom robot
accepts. Each message's SMS segments are counted (70 characters a segment; 67 when a message needs more than
one, the rest carrying the joining header).

``conversation`` plays a scripted incident (``SCRIPTS``: an entrapment, a pipe burst, a power cut) and returns
what the owners' group receives, message by message: ``scripts/render_conversations.py`` writes these into
docs/notifications.md. Pure: no I/O beyond the templates read when ``Templates`` was built.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.audiences import OWNERS, Outgoing, Planner
from alerts.notify.messages import FINDING_NAMES, LANGS, Message, Templates
from alerts.notify.writer import digest
from facwatch.config import NotifySettings
from facwatch.model import Asset, Level, OwnerGroup, Person, Site

SMS_SEGMENT = 70
SMS_PART = 67
WECOM_BYTES = 2048
"""A WeCom group robot's text message limit (UTF-8 bytes); DingTalk's robot accepts far more (20000)."""
DINGTALK_BYTES = 20000
UNITS = frozenset({"V", "A", "kW", "kWh", "Hz", "MPa", "kPa", "m", "s", "mm", "kg"})
"""Latin words a Chinese message may carry: units."""
_IDS = re.compile(
    r"https?://\S+|\[(?:RED|ORANGE|YELLOW|BLUE)\]|\bT-\d+|\bN[0-9a-f]{8}\b|[A-Za-z_]+=\S+|\b[a-z0-9]+(?:-[a-z0-9]+)+\b"
)
"""What is not English in a Chinese message: links, level tags, ticket and message references, readings,
asset ids."""
_LATIN = re.compile(r"[A-Za-z]+")
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


# --- the checker ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    lang: str
    what: str
    """``owners opened elevator.entrapment``, ``engineer action pump.tripped`` …"""
    text: str
    problems: tuple[str, ...]

    @property
    def sms_segments(self) -> int:
        return sms_segments(self.text)


@dataclass(frozen=True, slots=True)
class TemplateReport:
    rendered: tuple[Rendered, ...]
    warnings: tuple[str, ...] = ()
    """Worth fixing, not failing: a site file without the service centre's phone number."""

    @property
    def problems(self) -> list[str]:
        return [f"{r.lang} {r.what}: {p}" for r in self.rendered for p in r.problems]

    def longest(self) -> list[tuple[str, str, int, int]]:
        """Per language and (audience, moment): the longest message's characters and SMS segments."""
        worst: dict[tuple[str, str], Rendered] = {}
        for r in self.rendered:
            key = (r.lang, " ".join(r.what.split()[:2]))
            if key not in worst or len(r.text) > len(worst[key].text):
                worst[key] = r
        return [(lang, what, len(r.text), r.sms_segments) for (lang, what), r in sorted(worst.items())]


def sms_segments(text: str) -> int:
    """Segments of a Chinese SMS (UCS-2): 70 characters in one, 67 a segment when it is split."""
    n = len(text)
    return 1 if n <= SMS_SEGMENT else math.ceil(n / SMS_PART)


def problems_of(text: str, title: str, lang: str, site: Site) -> tuple[str, ...]:
    found = []
    if "$" in text:
        found.append(f"a placeholder is left: {text[text.index('$') :][:30]!r}")
    if not title.strip():
        found.append("the title is empty")
    if lang == "zh":
        bare = _IDS.sub(" ", text)
        for name in sorted(_names(site), key=len, reverse=True):  # the site file's own names are its choice
            bare = bare.replace(name, " ")
        english = sorted({w for w in _LATIN.findall(bare) if w not in UNITS})
        if english:
            found.append(f"English in a Chinese message: {', '.join(english[:6])}")
    size = len(text.encode("utf-8"))
    if size > WECOM_BYTES:
        found.append(f"{size} bytes: longer than a WeCom robot accepts ({WECOM_BYTES})")
    return tuple(found)


def _names(site: Site) -> set[str]:
    names = {
        site.id,
        site.name,
        site.service_name,
        *(a.id for a in site.assets),
        *(a.name for a in site.assets),
    }
    names |= {b.name for b in site.buildings} | {p.name for p in site.people} | {o.name for o in site.owners}
    return {n for n in names if n}


def _with_audiences(site: Site) -> Site:
    """The site with an owners' group in every building and an engineer, so that every template is rendered."""
    groups = tuple(OwnerGroup(b.id, f"{b.id} owners") for b in site.buildings if not site.owners_of(b.id))
    people = site.people or (Person("checker", "王工", "engineer"),)
    return dataclasses.replace(site, owners=site.owners + groups, people=people)


def _family_asset(site: Site, kind: str) -> Asset | None:
    family = kind.split(".")[0]
    return next((a for a in site.assets if a.kind.value == family), site.assets[0] if site.assets else None)


def check_templates(site: Site, templates: Templates) -> TemplateReport:
    """Render every template for every finding kind, moment and language; see the module's description."""
    rendered: list[Rendered] = []
    site = _with_audiences(site)
    for lang in LANGS:
        messages: list[tuple[str, Message]] = []
        for kind in sorted(FINDING_NAMES):
            asset = _family_asset(site, kind)
            if asset is None:
                continue
            for level in (Level.RED, Level.YELLOW):
                script = Script(kind, asset.id, kind, level, ())
                for notice, items in conversation(
                    site, templates, script, lang, steps=EVERY_MOMENT, once=False
                ):
                    moment = notice.action or notice.kind.value
                    for item in items:
                        messages.append((f"{item.audience} {moment} {kind}", Message(item.title, item.body)))
        members = [
            {"level": "red", "line": "一号", "created_at": START},
            {"level": "orange", "line": "二号", "created_at": START},
        ] * 4
        for staff in (True, False):
            who = "staff" if staff else "owners"
            summed = digest(templates, staff=staff, lang=lang, site_name=site.name, key="k", members=members)
            messages.append((f"{who} digest", summed))
        fields = {"title": "标题", "body": "正文", "recipient": "王工", "seconds": "30", "level_name": "红色"}
        messages.append(("staff fallback", templates.render_one("fallback", lang, fields)))
        for what, message in messages:
            text = f"{message.title}\n{message.body}"
            rendered.append(Rendered(lang, what, text, problems_of(text, message.title, lang, site)))
    warnings = (
        () if site.service_phone else ("[site] service_phone is not set: owners get no number to call",)
    )
    return TemplateReport(tuple(rendered), warnings)


def summary(report: TemplateReport) -> str:
    """The checker's words for ``facwatch check``: problems first, then the length table."""
    lines = [f"templates: {len(report.rendered)} messages rendered, {len(report.problems)} problem(s)"]
    lines += [f"  problem: {p}" for p in dict.fromkeys(report.problems)]
    lines += [f"  warning: {w}" for w in report.warnings]
    lines.append("  longest message per language and moment (characters, SMS segments of 70):")
    lines += [
        f"    {lang} {what}: {chars} chars, {segments} SMS"
        for lang, what, chars, segments in report.longest()
    ]
    return "\n".join(lines)


__all__ = [
    "EVERY_MOMENT",
    "SCRIPTS",
    "Script",
    "Step",
    "TemplateReport",
    "check_templates",
    "conversation",
    "conversations_markdown",
    "owner_messages",
    "sms_segments",
    "summary",
]


# --- the conversations page ----------------------------------------------------------------------------------

MOMENTS = {
    "opened": "alert opened", "acknowledge": "acknowledged", "dispatch": "dispatched", "check_in": "on site",
    "progress": "progress", "plan_b": "plan B", "escalated": "fix deadline passed", "resolve": "resolved",
    "follow_up": "the next day",
}  # fmt: skip


def _cell(message: Message) -> str:
    body = message.body.replace("|", "\\|").replace("\n", "<br>")
    return f"**{message.title}**<br>{body}"


def conversations_markdown(site: Site, templates: Templates) -> str:
    """The whole conversation an owners' group reads in each scripted incident, Chinese and English side by
    side, with each message's length and SMS segments (docs/notifications.md)."""
    out = []
    for script in SCRIPTS:
        asset = site.asset(script.asset)
        name = asset.name if asset else script.asset
        out += [f"### {script.title}: {name}", ""]
        out += ["| when | moment | 中文 | English |", "|---|---|---|---|"]
        zh = conversation(site, templates, script, "zh")
        en = conversation(site, templates, script, "en")
        for (notice, zh_items), (_, en_items) in zip(zh, en, strict=True):
            zh_own = [i for i in zh_items if i.audience == OWNERS]
            en_own = [i for i in en_items if i.audience == OWNERS]
            local = notice.at.astimezone(ZoneInfo(site.timezone))
            day = (local.date() - START.astimezone(ZoneInfo(site.timezone)).date()).days
            when = local.strftime("%H:%M") + (" (next day)" if day == 1 else f" (+{day} d)" if day else "")
            moment = MOMENTS.get(notice.action or notice.kind.value, notice.action or notice.kind.value)
            if not zh_own:
                out.append(f"| {when} | {moment} | — (staff only) | — |")
                continue
            for z, e in zip(zh_own, en_own, strict=True):
                zm, em = Message(z.title, z.body), Message(e.title, e.body)
                whole = f"{z.title}\n{z.body}"
                sms = f"<br>*{len(whole)} 字，短信 {sms_segments(whole)} 条*"
                out.append(f"| {when} | {moment} | {_cell(zm)}{sms} | {_cell(em)} |")
        out.append("")
    return "\n".join(out)
