"""What a notice fills a template with (pure): every ``${field}`` of ``alerts.notify.messages.FIELDS`` that
a ticket's notice can give, in one language — the asset and its building, the readings, the deadlines or what
the ticket already has (``dues``), what the engineer is to do next (``next_step``), the action and its
detail, the ETA, the owners' words.

``alerts.notify.audiences`` decides who hears a notice and when; this module only says what the words are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.channel_words import readings_text
from alerts.notify.findings import finding_summary
from alerts.notify.messages import (
    ACTION_NAMES,
    LEVEL_NAMES,
    REASONS,
    dues_words,
    local_time,
    localized,
    next_step_words,
    owner_words,
)
from facwatch.config import NotifySettings
from facwatch.model import Asset, Person, Site


def notice_fields(
    site: Site,
    settings: NotifySettings,
    notice: Notice,
    asset: Asset | None,
    lang: str,
    *,
    ref: str,
    person: Person | None,
) -> dict[str, str]:
    """The template fields of ``notice`` in ``lang``; ``ref`` is the message's reference, ``person`` the
    staff member it is for (None for owners)."""
    tz = site.timezone
    detail = notice.detail
    building_id = asset.building if asset else str(detail.get("building") or "")
    building = next((b.name for b in site.buildings if b.id == building_id), building_id or "—")
    eta = eta_of(notice)
    minutes = "?"
    if eta is not None and eta > notice.at:
        minutes = str(math.ceil((eta - notice.at).total_seconds() / 60))
    link = f"\n{settings.board_url}#ticket={notice.ticket}" if settings.board_url else ""
    action = notice.action or ("follow_up" if notice.kind is NoticeKind.FOLLOW_UP else "")
    return {
        "site": localized(site.name, lang),
        "level": notice.level.value.upper(),
        "level_name": LEVEL_NAMES[lang][notice.level.value],
        "ticket": notice.ticket,
        "ticket_link": link,
        "ref": ref,
        "summary": _summary(site, notice, lang),
        "readings": _readings(detail, lang),
        "asset": localized(asset.name, lang) if asset else _place(detail, notice.summary),
        "asset_id": asset.id if asset else "—",
        "building": localized(building, lang),
        "opened_at": local_time(_when(detail.get("opened_at")) or notice.at, tz, lang, seconds=True),
        "ack_due": local_time(_when(detail.get("ack_due")), tz, lang, seconds=True),
        "on_site_due": local_time(_when(detail.get("on_site_due")), tz, lang, seconds=True),
        "dues": dues_words(
            _when(detail.get("ack_due")),
            _when(detail.get("on_site_due")),
            _when(detail.get("acknowledged_at")),
            _when(detail.get("on_site_at")),
            tz,
            lang,
        ),
        "next_step": next_step_words(
            _when(detail.get("acknowledged_at")), _when(detail.get("on_site_at")), lang
        ),
        "reason": REASONS[lang].get(str(detail.get("reason", "")), str(detail.get("reason", ""))),
        "person": localized(person.name, lang) if person else "",
        "action": ACTION_NAMES[lang].get(action, action),
        "actor": _person_name(site, notice.actor, lang),
        "detail": _action_detail(site, notice, lang, minutes),
        "note": f"\n{note}" if (note := _own_note(notice.note)) else "",
        "percent": _number(detail.get("percent")),
        "minutes_left": minutes,
        "eta": local_time(eta, tz, lang),
        "plan_b": str(detail.get("plan_b") or notice.note or ""),
        **owner_words(
            site,
            notice,
            lang,
            expect_at=local_time(eta, site.timezone, lang) if eta is not None and minutes != "?" else None,
            minutes=minutes,
            own_note=_own_note(notice.note) if notice.action == "resolve" else "",
            rating_url=settings.rating_url,
        ),
    }


def _summary(site: Site, notice: Notice, lang: str) -> str:
    """What happened in ``lang`` only: an owner's report in the owner's words, a finding from its kind."""
    if notice.detail.get("source") == "owner":
        return notice.summary
    kind = str(notice.detail.get("finding") or "")
    days = site.alerts.recurrence_window_days
    return finding_summary(kind, lang, notice.detail, notice.summary, days)


def _person_name(site: Site, pid: str | None, lang: str) -> str:
    person = site.person(pid) if pid else None
    return localized(person.name, lang) if person else (pid or "")


def _action_detail(site: Site, notice: Notice, lang: str, minutes: str) -> str:
    detail = notice.detail
    percent = _number(detail.get("percent"))
    zh = lang == "zh"
    if notice.action == "progress" and percent:
        if minutes != "?":
            return (
                f"（已完成{percent}%，预计还需{minutes}分钟）"
                if zh
                else f" ({percent} % done, about {minutes} minutes left)"
            )
        return f"（已完成{percent}%）" if zh else f" ({percent} % done)"
    if notice.action == "plan_b" and detail.get("plan_b"):
        return f"：{detail['plan_b']}" if zh else f": {detail['plan_b']}"
    if notice.action == "dispatch" and detail.get("assignee"):
        name = _person_name(site, str(detail["assignee"]), lang)
        return f" → {name}"
    return ""


def plan_and_eta(notice: Notice, lang: str, eta: str) -> str:
    """``（备用方案：…；预计 16:12 恢复）`` / `` (plan B: …; expected back 16:12)``, or nothing."""
    zh = lang == "zh"
    bits = []
    if plan_b := str(notice.detail.get("plan_b") or ""):
        bits.append(f"备用方案：{plan_b}" if zh else f"plan B: {plan_b}")
    if eta_of(notice) is not None:
        bits.append(f"预计 {eta} 恢复" if zh else f"expected back {eta}")
    if not bits:
        return ""
    return f"（{'；'.join(bits)}）" if zh else f" ({'; '.join(bits)})"


def _place(detail: Mapping[str, Any], summary: str) -> str:
    """What an owner's report without an asset is about: its category and where."""
    parts = [str(detail[k]) for k in ("category", "unit", "location") if detail.get(k)]
    return " ".join(parts) if parts else summary


_DETAIL_NOTES = ("ETA ", "assigned to ", "plan B: ")


def _own_note(note: str) -> str:
    """The person's own words from a timeline note, without what the detail fields already say."""
    kept = [
        part
        for part in note.split("; ")
        if part and not part.startswith(_DETAIL_NOTES) and not part.endswith(" % done")
    ]
    return "; ".join(kept)


def eta_of(notice: Notice) -> datetime | None:
    return _when(notice.detail.get("eta"))


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _when(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _number(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return ""


def _readings(detail: Mapping[str, Any], lang: str) -> str:
    """The readings people may see, labelled, with units (``alerts.notify.channel_words``: never internal ones)."""
    readings = detail.get("facts") or detail.get("readings")  # all the finding's figures, when it has them
    if isinstance(readings, Mapping) and readings:
        return readings_text(readings.items(), lang)
    if isinstance(detail.get("channel"), str) and isinstance(detail.get("value"), int | float):
        return readings_text([(detail["channel"], detail["value"])], lang)
    return "—"


__all__ = ["eta_of", "notice_fields", "plan_and_eta"]
