"""The template checker of ``facwatch check``, and the conversations page of docs/notifications.md.

Every template is rendered through the same ``Planner`` the notifier uses, for every finding kind the
detectors raise and every moment of a ticket (opened, acknowledged, dispatched, on site, another alert joining
the ticket with its engineer on site, progress with and without an ETA, plan B, late, resolved, the next-day
follow-up), in every language, with realistic values from the site file. A message fails the check when a ``${placeholder}`` is left, its title is empty, a Chinese
message carries English words (ids, readings, links and units excepted), or it is longer than a WeCom robot
accepts. Each message's SMS segments are counted (70 characters a segment; 67 when a message needs more than
one, the rest carrying the joining header).

``conversations_markdown`` shows what an owners' group reads in the scripted incidents of
``alerts.notify.conversations`` (an entrapment, a pipe burst, a power cut): ``scripts/render_conversations.py``
writes it into docs/notifications.md. Pure: no I/O beyond the templates read when ``Templates`` was built.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alerts.notify.audiences import OWNERS
from alerts.notify.channel_words import UNIT_WORDS
from alerts.notify.conversations import EVERY_MOMENT, JOINED_ON_SITE, SCRIPTS, START, Script, conversation
from alerts.notify.messages import FINDING_NAMES, LANGS, Message, Templates
from alerts.notify.writer import digest
from facwatch.model import Asset, Level, OwnerGroup, Person, Site

SMS_SEGMENT = 70
SMS_PART = 67
WECOM_BYTES = 2048
"""A WeCom group robot's text message limit (UTF-8 bytes); DingTalk's robot accepts far more (20000)."""
DINGTALK_BYTES = 20000
UNITS = frozenset({"V", "A", "kW", "kWh", "Hz", "MPa", "kPa", "m", "s", "mm", "kg"}) | UNIT_WORDS
"""Latin words a Chinese message may carry: units."""
_IDS = re.compile(
    r"https?://\S+|\[(?:RED|ORANGE|YELLOW|BLUE)\]|\bT-\d+|\bN[0-9a-f]{8}\b|[A-Za-z_]+=\S+|\b[a-z0-9]+(?:-[a-z0-9]+)+\b"
)
"""What is not English in a Chinese message: links, level tags, ticket and message references, readings,
asset ids."""
_LATIN = re.compile(r"[A-Za-z]+")


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
                    site, templates, script, lang, steps=(*EVERY_MOMENT, JOINED_ON_SITE), once=False
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
    warnings: tuple[str, ...] = (
        () if site.service_phone else ("[site] service_phone is not set: owners get no number to call",)
    )
    warnings += tuple(
        f"{lang}/engineer_alert.txt does not use ${{next_step}}: an alert joining a ticket whose engineer is "
        "on site still tells the engineer to acknowledge and check in"
        for lang in LANGS
        if "next_step" not in templates.fields_of("engineer_alert", lang)
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


__all__ = [
    "TemplateReport",
    "check_templates",
    "conversations_markdown",
    "problems_of",
    "sms_segments",
    "summary",
]
