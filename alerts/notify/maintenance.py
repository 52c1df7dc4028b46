"""Owners told about maintenance (pure): an ``Announcement`` of the engine becomes outbox items.

The owner groups of the asset's building (``owner_groups``) hear of a window the day before
(``owner_maintenance_planned``) and when it is over (``owner_maintenance_done``), and that a window they were
told of is cancelled (``owner_maintenance_cancelled``) or moved (``owner_maintenance_moved``), in their language, from
templates a site may override like any other. Neither is urgent: in the owners' quiet hours both wait
for the morning (and join its digest).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from alerts.engine.maintenance import Announcement, Moment
from alerts.notify.audiences import OWNERS, Outgoing, owner_groups, quiet_until, ref_of
from alerts.notify.messages import SERVICE, Templates, languages, localized
from facwatch.config import NotifySettings
from facwatch.model import Site

TEMPLATE = {
    Moment.PLANNED: "owner_maintenance_planned",
    Moment.DONE: "owner_maintenance_done",
    Moment.CANCELLED: "owner_maintenance_cancelled",
    Moment.MOVED: "owner_maintenance_moved",
}
COMPANY = {"zh": "维保单位", "en": "the maintenance company"}
WORK = {"zh": "例行维保", "en": "routine maintenance"}


def _when(at: datetime, tz: str, lang: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    return local.strftime("%m月%d日 %H:%M" if lang == "zh" else "%d %b %H:%M")


def fields(site: Site, announcement: Announcement, lang: str, *, key: str) -> Mapping[str, str]:
    window = announcement.window
    service = localized(site.service_name, lang) if site.service_name else ""
    return {
        "asset": localized(announcement.asset.name, lang),
        "asset_id": announcement.asset.id,
        "building": announcement.asset.building,
        "service": service or SERVICE[lang].format(site=localized(site.name, lang)),
        "phone": site.service_phone or "—",
        "start": _when(window.start, site.timezone, lang),
        "end": _when(window.end, site.timezone, lang),
        "company": localized(announcement.company, lang) if announcement.company else COMPANY[lang],
        "work": localized(window.what, lang) if window.what else WORK[lang],
        "ref": ref_of(key),
        "was": _when(announcement.was, site.timezone, lang) if announcement.was else "",
    }


def plan_announcement(
    site: Site, settings: NotifySettings, templates: Templates, announcement: Announcement
) -> list[Outgoing]:
    name = TEMPLATE[announcement.moment]
    items = []
    for group in owner_groups(site, announcement.asset):
        key = f"{announcement.key}:owners:{group.building}:{group.name}"
        text = templates.render(name, group.lang, partial(fields, site, announcement, key=key))
        release_at = None
        if settings.quiet_hours:
            release_at = quiet_until(announcement.at, site.timezone, settings.quiet_start, settings.quiet_end)
        items.append(
            Outgoing(
                key=key,
                site=site.id,
                ticket_id=None,
                audience=OWNERS,
                recipient=group.name,
                targets=group.notify,
                title=text.title,
                body=text.body,
                level="blue",
                asset=announcement.asset.id,
                lang=group.lang,
                line=" / ".join(
                    templates.render_one(name, one, fields(site, announcement, one, key=key)).title
                    for one in languages(group.lang)
                ),
                release_at=release_at,
                quiet=release_at is not None,
            )
        )
    return items
