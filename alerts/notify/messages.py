"""What notifications say: templates in files a property company can edit, in Simplified Chinese and English.

Templates live in ``alerts/notify/templates/<lang>/<name>.txt`` (``zh`` and ``en`` ship); a site can point
``[notify] template_dir`` at a directory of its own with the same layout, and any file found there wins,
file by file. A file's first line is the title, the rest (after a blank line) the body, with
``${field}`` placeholders (``string.Template``). A more specific file is chosen before ``<name>.txt`` when it
exists: ``<name>.<finding kind>.txt`` (e.g. ``owner_opened.power.outage.txt``, a power cut), then
``<name>.<asset kind>.txt`` (e.g. ``owner_opened.elevator.txt``). Every file is checked when
the templates are loaded: a placeholder that is not a known field is refused with the file's name, so a typo
is found at start and not in the middle of an incident.

An engineer's message (ticket number, deadlines, readings) is a different template from the owners' plain
words, and no field carries the asset's check-in code: that code proves presence at the asset.
Rendering is pure: the files are read once, when ``Templates`` is built.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.engine.notices import Notice
from alerts.notify.findings import FINDING_NAMES, finding_name, finding_summary
from facwatch.errors import ConfigError
from facwatch.model import Site

LANGS = ("zh", "en")

FIELDS = frozenset(
    {
        "site", "level", "level_name", "ticket", "ticket_link", "ref", "summary", "readings",
        "asset", "asset_id", "building", "opened_at", "ack_due", "on_site_due", "reason", "person",
        "action", "actor", "detail", "note", "percent", "minutes_left", "eta", "plan_b",
        "count", "worst", "items", "more", "more_count", "title", "body", "recipient", "seconds",
        "service", "phone", "handled", "expect", "found", "rating", "finding_name",
        "start", "end", "company", "work", "was", "dues",
        "next_step",
    }
)  # fmt: skip
"""Every placeholder a template may use; which ones are filled depends on the template (docs/notifications.md)."""

TEMPLATES = (
    "engineer_alert", "escalation", "staff_action", "staff_digest", "digest_more", "fallback",
    "owner_opened", "owner_on_the_way", "owner_arrived", "owner_progress", "owner_progress_noeta",
    "owner_plan_b", "owner_delayed", "owner_resolved", "owner_follow_up", "owner_digest",
)  # fmt: skip

LEVEL_NAMES = {
    "zh": {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"},
    "en": {"red": "RED", "orange": "ORANGE", "yellow": "YELLOW", "blue": "BLUE"},
}
ACTION_NAMES = {
    "zh": {
        "acknowledge": "已确认", "dispatch": "已派工", "check_in": "已到场", "progress": "维修进展",
        "plan_b": "启用备用方案", "resolve": "已修复", "close": "已关闭", "reopen": "重新打开",
        "cancel": "已取消", "comment": "备注", "follow_up": "回访（请询问业主是否一切正常）",
    },
    "en": {
        "acknowledge": "acknowledged", "dispatch": "dispatched", "check_in": "on site", "progress": "progress",
        "plan_b": "plan B", "resolve": "resolved", "close": "closed", "reopen": "reopened",
        "cancel": "cancelled", "comment": "comment", "follow_up": "follow-up (ask the owners whether all is well)",
    },
}  # fmt: skip
UNKNOWN = {"zh": "待定", "en": "to be confirmed"}
TEMPLATE_FAMILIES = {"elevator.entrapment_at_landing": "elevator.entrapment"}
"""Finding kinds that speak with another kind's templates: people trapped at a landing are trapped too."""


HANDLED = {
    "zh": {"acknowledge": "已接单", "dispatch": "已接单、已派单"},
    "en": {
        "acknowledge": "have taken on the report",
        "dispatch": "have taken on the report and dispatched an engineer",
    },
}
"""What the service centre did, for the owners (显专业): only what the ticket's action says."""
NO_ETA = {
    "zh": {
        "": "工程师到场检查后，我们会第一时间告诉您预计恢复时间。",
        "check_in": "查明原因后，我们会第一时间告诉您预计恢复时间。",
        "escalated": "新的恢复时间确定后，我们会第一时间告诉您。",
    },
    "en": {
        "": "Once the engineer has looked at it on site, we will tell you when to expect it back.",
        "check_in": "Once the cause is found, we will tell you when to expect it back.",
        "escalated": "We will tell you the new time as soon as we know it.",
    },
}
"""The expectation when nobody gave an ETA (by moment): when we will say more, never a made-up time."""
WITH_ETA = {
    "zh": "预计 {eta} 恢复（约{minutes}分钟）。",
    "en": "Expected back at {eta} (about {minutes} minutes).",
}
FOUND = {
    "zh": "工程师已完成检修，系统读数已恢复正常。",
    "en": "The engineer has finished the repair and the readings are back to normal.",
}
RATING = {
    "zh": ("请点击为本次服务评分：{url}", "也欢迎来电为本次服务打分。"),
    "en": ("Please rate our service: {url}", "You are also welcome to call us to rate our service."),
}
SERVICE = {"zh": "{site}物业服务中心", "en": "{site} property service centre"}
REASONS = {
    "zh": {
        "escalated: acknowledge clock ran out": "确认时限已过",
        "escalated: on-site clock ran out": "到场时限已过",
        "escalated: fix clock ran out": "修复时限已过",
    },
    "en": {
        "escalated: acknowledge clock ran out": "The acknowledge deadline has passed",
        "escalated: on-site clock ran out": "The on-site deadline has passed",
        "escalated: fix clock ran out": "The fix deadline has passed",
    },
}
"""The engine's escalation reasons (alerts.engine.lifecycle.EscalationReason) in words; others are shown as they are."""


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def split_name(name: str) -> tuple[str, str]:
    """``"1号楼1单元电梯 Building 1 unit 1 elevator"`` → (Chinese part, English part)."""
    head, _, tail = name.partition(" ")
    if tail and not head.isascii():
        return head, tail
    return name, name


def localized(name: str, lang: str) -> str:
    zh, en = split_name(name)
    return en if lang == "en" else zh


def languages(lang: str) -> tuple[str, ...]:
    """``zh+en`` → ("zh", "en"); anything unknown falls back to Chinese, the default."""
    chosen = tuple(part for part in lang.split("+") if part in LANGS)
    return chosen or ("zh",)


def local_time(when: datetime | None, tz: str, lang: str, *, seconds: bool = False) -> str:
    if when is None:
        return UNKNOWN.get(lang, UNKNOWN["zh"])
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%H:%M:%S" if seconds else "%H:%M")


DUES = {
    "zh": {
        "due": "请于 {ack} 前确认，{on_site} 前到场。",
        "acknowledged": "工单已于 {at} 确认，请于 {on_site} 前到场。",
        "on_site": "工程师已于 {at} 到场。",
    },
    "en": {
        "due": "acknowledge by {ack}, on site by {on_site}.",
        "acknowledged": "acknowledged at {at}; on site by {on_site}.",
        "on_site": "an engineer has been on site since {at}.",
    },
}
NEXT_STEP = {
    "zh": {
        "due": "先确认，到场后用设备上张贴的编码签到。",
        "acknowledged": "到场后用设备上张贴的编码签到。",
        "on_site": "已在现场的工程师一并处理此告警，无需再次签到。",
    },
    "en": {
        "due": "acknowledge, then check in at the asset with the posted code.",
        "acknowledged": "check in at the asset with the posted code on arrival.",
        "on_site": "the engineer already on site handles this alert too; no new check-in is needed.",
    },
}
"""What the engineer is to do next, by where the ticket is (``ticket_moment``): an alert that joins a ticket
with an engineer on site asks for no acknowledgement and no check-in."""


def ticket_moment(acknowledged_at: datetime | None, on_site_at: datetime | None) -> str:
    """``on_site`` (someone checked in), ``acknowledged`` (someone took it) or ``due`` (neither yet)."""
    if on_site_at is not None:
        return "on_site"
    if acknowledged_at is not None:
        return "acknowledged"
    return "due"


def next_step_words(acknowledged_at: datetime | None, on_site_at: datetime | None, lang: str) -> str:
    """The instruction line of an engineer's alert (``${next_step}``), true to the ticket it joins."""
    return NEXT_STEP.get(lang, NEXT_STEP["zh"])[ticket_moment(acknowledged_at, on_site_at)]


def dues_words(
    ack_due: datetime | None,
    on_site_due: datetime | None,
    acknowledged_at: datetime | None,
    on_site_at: datetime | None,
    tz: str,
    lang: str,
) -> str:
    """What the ticket still asks of the engineer: an alert that joins a ticket already acknowledged, or
    with someone on site, says so rather than repeat deadlines that no longer apply."""
    words = DUES.get(lang, DUES["zh"])

    def at(when: datetime | None) -> str:
        return local_time(when, tz, lang, seconds=True)

    moment = ticket_moment(acknowledged_at, on_site_at)
    if moment == "on_site":
        return words["on_site"].format(at=at(on_site_at))
    if moment == "acknowledged":
        return words["acknowledged"].format(at=at(acknowledged_at), on_site=at(on_site_due))
    return words["due"].format(ack=at(ack_due), on_site=at(on_site_due))


def owner_words(
    site: Site,
    notice: Notice,
    lang: str,
    *,
    expect_at: str | None,
    minutes: str,
    own_note: str,
    rating_url: str | None,
) -> dict[str, str]:
    """Who speaks, what was done, what to expect, what was found: only what the notice says is true.

    ``expect_at``: the ETA in local time when one was given; ``own_note``: the engineer's words at resolve."""
    service = localized(site.service_name, lang) if site.service_name else ""
    service = service or SERVICE[lang].format(site=localized(site.name, lang))
    moment = notice.action or notice.kind.value
    if expect_at is not None:
        expect = WITH_ETA[lang].format(eta=expect_at, minutes=minutes)
    else:
        expect = NO_ETA[lang].get(moment, NO_ETA[lang][""])
    found = FOUND[lang]
    if own_note:
        found = (
            f"工程师处理情况：{own_note}。"
            if lang == "zh"
            else f"What the engineer found and did: {own_note}."
        )
    url = (rating_url or "").replace("{ticket}", notice.ticket)
    return {
        "service": service,
        "phone": site.service_phone or "—",
        "handled": HANDLED[lang].get(notice.action or "", HANDLED[lang]["acknowledge"]),
        "expect": expect,
        "found": found,
        "rating": RATING[lang][0].format(url=url) if url else RATING[lang][1],
        "finding_name": finding_name(str(notice.detail.get("finding") or ""), lang, notice.summary),
    }


class Templates:
    """The templates of every language, read once; ``render`` is pure."""

    def __init__(self, override: Path | None = None) -> None:
        self._files: dict[tuple[str, str], string.Template] = {}
        builtin = resources.files("alerts.notify").joinpath("templates")
        for lang in LANGS:
            folder = builtin.joinpath(lang)
            for entry in folder.iterdir():
                if entry.name.endswith(".txt"):
                    self._add(
                        lang, entry.name[:-4], entry.read_text(encoding="utf-8"), f"{lang}/{entry.name}"
                    )
        if override is not None:
            if not override.is_dir():
                raise ConfigError(f"notify.template_dir {override}: not a directory")
            for lang in LANGS:
                for path in sorted((override / lang).glob("*.txt")):
                    self._add(lang, path.stem, path.read_text(encoding="utf-8"), str(path))
        for lang in LANGS:
            for name in TEMPLATES:
                if (lang, name) not in self._files:
                    raise ConfigError(f"template {lang}/{name}.txt is missing")

    def _add(self, lang: str, name: str, text: str, origin: str) -> None:
        template = string.Template(text.strip("\n"))
        if not template.is_valid():
            raise ConfigError(
                f"template {origin}: a '$' that is not a ${{field}} (write $$ for a dollar sign)"
            )
        unknown = set(template.get_identifiers()) - FIELDS
        if unknown:
            raise ConfigError(f"template {origin}: unknown field(s) {', '.join(sorted(unknown))}")
        if "\n" not in template.template:
            template = string.Template(template.template + "\n")
        self._files[(lang, name)] = template

    def has(self, name: str, lang: str = "zh") -> bool:
        return (lang, name) in self._files

    def fields_of(self, name: str, lang: str) -> frozenset[str]:
        """The placeholders ``<lang>/<name>.txt`` uses (the file itself, not its variants)."""
        return frozenset(self._files[(lang, name)].get_identifiers())

    def render_one(
        self, name: str, lang: str, fields: Mapping[str, str], kind: str | Sequence[str] | None = None
    ) -> Message:
        """``kind``: the variants to try before ``name`` itself, most specific first (a finding kind,
        an asset kind)."""
        variants = (kind,) if isinstance(kind, str) else tuple(kind or ())
        found = (self._files.get((lang, f"{name}.{v}")) for v in variants if v)
        template = next((t for t in found if t is not None), None) or self._files[(lang, name)]
        text = template.safe_substitute(fields)
        title, _, body = text.partition("\n")
        return Message(title=title.strip(), body=body.strip("\n"))

    def render(
        self,
        name: str,
        lang: str,
        fields: Callable[[str], Mapping[str, str]],
        kind: str | Sequence[str] | None = None,
    ) -> Message:
        """One message in ``lang`` (``fields(lang)`` gives that language's values); for ``zh+en`` both,
        the titles joined by `` / `` and the bodies by a blank line."""
        parts = [self.render_one(name, one, fields(one), kind) for one in languages(lang)]
        if len(parts) == 1:
            return parts[0]
        return Message(title=" / ".join(p.title for p in parts), body="\n\n".join(p.body for p in parts))


__all__ = [
    "FINDING_NAMES",
    "Message",
    "Templates",
    "finding_name",
    "finding_summary",
    "languages",
    "local_time",
    "localized",
    "next_step_words",
    "owner_words",
    "split_name",
]
