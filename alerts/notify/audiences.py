"""Who hears what, in which words and when (pure): a ``Notice`` of the engine becomes outbox items.

- Staff (the engineer the rota chose, the supervisor or manager an escalation reached) get the engineer's
  templates: asset, location, readings, deadlines, the ticket and its link. The engine names them in
  ``Notice.staff``; nobody else gets a staff message.
- Owners get plain words, and only about their own building: the owner groups of the asset's building
  (narrowed to the group's ``assets`` when the site file lists them), for tickets of the levels in
  ``notify.owner_levels``: opened, an engineer on the way, progress, plan B, all-clear, the next-day
  follow-up. Owners never get a staff template, and staff templates are never addressed to an owner group.
- Only what is true: the opening message says the desk has the alarm, not that an engineer is coming;
  "an engineer is on the way" goes once per ticket, when someone acknowledged it or was dispatched. A
  finding kind can have words of its own (``owner_opened.power.outage``: a power cut); any other power
  finding (a voltage sag, a swell) is announced as a power supply problem, never as a cut.
- When: every item waits a short group window (``group_wait_s``; RED ``group_wait_red_s``, none by
  default) so that an outage storm or a burst of updates of one ticket reaches each recipient as one
  message (the outbox merges what waits together; each item's line keeps its plan B and ETA). Non-urgent
  owner messages in quiet hours (site time zone, on the event time) wait until the quiet hours end and go
  out as one morning digest; a RED opening, its engineer on the way and its plan B are urgent and always go
  at once.

What each template's fields say (the asset, readings, deadlines, the action's detail, the owners' words) is
``alerts.notify.fields``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.fields import eta_of, notice_fields, plan_and_eta
from alerts.notify.messages import TEMPLATE_FAMILIES, Message, Templates, languages
from facwatch.config import NotifySettings
from facwatch.model import OWNERS_ASSET, Asset, Level, OwnerGroup, Person, Site

SEVERITY = {"red": 3, "orange": 2, "yellow": 1, "blue": 0}
OWNERS = "owners"
FALLBACK = "fallback"
DIGEST_LINES = 5
ON_THE_WAY = ("acknowledge", "dispatch")
"""Actions after which owners may be told that an engineer is on the way."""
OWNER_ACTIONS = {
    "plan_b": "owner_plan_b",
    "resolve": "owner_resolved",
    "check_in": "owner_arrived",
    **dict.fromkeys(ON_THE_WAY, "owner_on_the_way"),
}
ONCE = {"owner_on_the_way": "on_the_way", "owner_delayed": "delayed"}
"""Owner messages that go once per ticket, whoever acted first (or however often the clock reminds)."""
FIX_LATE = "escalated: fix clock ran out"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notification to enqueue: one audience member (a person or an owner group), all their targets."""

    key: str
    site: str
    ticket_id: int | None
    audience: str
    """``engineer``, ``supervisor``, ``manager`` (the person's role), ``owners`` or ``fallback``."""
    recipient: str
    targets: tuple[str, ...]
    """Channels in priority order: RED goes to the first ``red_channels`` at once, others to the first;
    a channel that fails falls back to the next."""
    title: str
    body: str
    level: str | None = None
    asset: str | None = None
    lang: str = "zh"
    line: str | None = None
    """One line for a grouped message (default: the title)."""
    release_at: datetime | None = None
    """Wait until then (group window or quiet hours); None: send at once."""
    quiet: bool = False
    """Held for the end of the owners' quiet hours (a morning digest)."""


def ref_of(key: str) -> str:
    """A short reference printed in every message, so that a receiver can tell a repeat from a new one."""
    return "N" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]


def quiet_until(at: datetime, tz: str, start: str, end: str) -> datetime | None:
    """The end of the quiet hours ``at`` falls in (UTC), or None outside them. Works across midnight."""
    zone = _zone(tz)
    local = at.astimezone(zone)
    t0, t1 = _hhmm(start), _hhmm(end)
    now = local.time().replace(tzinfo=None)
    inside = t0 <= now < t1 if t0 < t1 else (now >= t0 or now < t1)
    if not inside or t0 == t1:
        return None
    until = datetime.combine(local.date(), t1, tzinfo=zone)
    if until <= local:
        until = datetime.combine(local.date() + timedelta(days=1), t1, tzinfo=zone)
    return until.astimezone(UTC)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def owner_groups(site: Site, asset: Asset) -> tuple[OwnerGroup, ...]:
    """The owner groups that may hear about ``asset``: its own building only, narrowed by ``assets``."""
    return tuple(
        g
        for g in site.owners_of(asset.building)
        if g.building == asset.building and (not g.assets or asset.id in g.assets)
    )


class Planner:
    """Turns notices into outbox items: audiences, words, timing."""

    def __init__(self, site: Site, settings: NotifySettings, templates: Templates) -> None:
        self.site = site
        self.settings = settings
        self.templates = templates

    def plan(self, notice: Notice) -> list[Outgoing]:
        items = self._staff(notice, notice.asset)
        if notice.asset is not None and notice.detail.get("source") != "owner" and not _ladder(notice.asset):
            # An owner's own report (no asset, or about one flat) is answered to them, not to the building.
            # The ladder's alerts (a group's complaints, its mood) are the staff's: owners are never told that
            # they were counted (the group hears that its steward is called, alerts/notify/chat_replies.py).
            items += self._owners(notice, notice.asset)
        return items

    # --- staff ---------------------------------------------------------------------------------------------

    def _staff(self, notice: Notice, asset: Asset | None) -> list[Outgoing]:
        if notice.kind is NoticeKind.OPENED:
            name, suffix = "engineer_alert", "{role}:{id}"
        elif notice.kind is NoticeKind.ESCALATED:
            name, suffix = "escalation", "{id}"
        else:  # actions, and the follow-up as a task
            name, suffix = "staff_action", "{role}:{id}"
        items = []
        for person in notice.staff:
            key = f"{notice.key}:{suffix.format(role=person.role, id=person.id)}"
            fields = partial(self._fields, notice, asset, key=key, person=person)
            text = self.templates.render(name, person.lang, fields)
            line = self._line(name, person.lang, fields, (), notice)
            items.append(
                self._item(notice, asset, key, person.role, person.id, person.notify, person.lang, text, line)
            )
        return items

    # --- owners --------------------------------------------------------------------------------------------

    def _owner_template(self, notice: Notice) -> str | None:
        if notice.kind is NoticeKind.OPENED:
            # An alert joining a ticket whose engineer is already there: the owners hear that someone is on
            # site (for an entrapment: the rescue is under way), not that one is being arranged.
            return "owner_arrived" if notice.detail.get("on_site_at") else "owner_opened"
        if notice.kind is NoticeKind.FOLLOW_UP:
            return "owner_follow_up"
        if notice.kind is NoticeKind.ESCALATED:
            # The owners hear that the repair is late, once; who was escalated to is the staff's business.
            return "owner_delayed" if notice.detail.get("reason") == FIX_LATE else None
        if notice.kind is NoticeKind.ACTION:
            if notice.action == "resolve" and notice.detail.get("override_reason"):
                return None  # a manager closed it over a firing alert: the sensors do not agree, no all-clear
            if notice.action == "progress":
                return "owner_progress" if eta_of(notice) is not None else "owner_progress_noeta"
            return OWNER_ACTIONS.get(notice.action or "")
        return None

    def _owners(self, notice: Notice, asset: Asset) -> list[Outgoing]:
        if notice.level.value not in self.settings.owner_levels:
            return []
        return self.owner_items(notice, asset, owner_groups(self.site, asset))

    def owner_items(
        self, notice: Notice, asset: Asset, groups: Sequence[OwnerGroup], tag: str = OWNERS
    ) -> list[Outgoing]:
        """The owners' words for ``notice`` to each of ``groups`` (``tag`` keeps other audiences' keys apart:
        the chat groups that complained, ``alerts.notify.chat_replies``)."""
        name = self._owner_template(notice)
        if name is None:
            return []
        # The most specific words first: the finding's kind (a power cut), then the asset's kind.
        finding = str(notice.detail.get("finding") or "")
        variants = tuple(v for v in (finding, TEMPLATE_FAMILIES.get(finding, ""), asset.kind.value) if v)
        items = []
        for group in groups:
            if name in ONCE:
                key = f"{notice.ticket}:{ONCE[name]}:{tag}:{group.building}:{group.name}"
            else:
                key = f"{notice.key}:{tag}:{group.building}:{group.name}"
            fields = partial(self._fields, notice, asset, key=key, person=None)
            text = self.templates.render(name, group.lang, fields, variants)
            line = self._line(name, group.lang, fields, variants, notice)
            items.append(
                self._item(notice, asset, key, OWNERS, group.name, group.notify, group.lang, text, line)
            )
        return items

    def urgent(self, notice: Notice) -> bool:
        """RED safety messages go at once, even to owners in quiet hours."""
        return notice.level is Level.RED and (
            notice.kind is NoticeKind.OPENED
            or (notice.kind is NoticeKind.ACTION and notice.action in ("plan_b", *ON_THE_WAY))
        )

    def _line(
        self,
        name: str,
        lang: str,
        fields: Callable[[str], Mapping[str, str]],
        variants: Sequence[str],
        notice: Notice,
    ) -> str:
        """The item's line in a digest: its title, with its plan B and ETA when it has them."""
        parts = []
        for one in languages(lang):
            values = fields(one)
            title = self.templates.render_one(name, one, values, variants).title
            parts.append(title + plan_and_eta(notice, one, values["eta"]))
        return " / ".join(parts)

    # --- common --------------------------------------------------------------------------------------------

    def _item(
        self,
        notice: Notice,
        asset: Asset | None,
        key: str,
        audience: str,
        recipient: str,
        targets: tuple[str, ...],
        lang: str,
        text: Message,
        line: str | None = None,
    ) -> Outgoing:
        s = self.settings
        wait = s.group_wait_red_s if notice.level is Level.RED else s.group_wait_s
        release_at: datetime | None = notice.at + timedelta(seconds=wait) if wait > 0 else None
        quiet = False
        if audience == OWNERS and s.quiet_hours and not self.urgent(notice):
            until = quiet_until(notice.at, self.site.timezone, s.quiet_start, s.quiet_end)
            if until is not None:
                release_at, quiet = until, True
        return Outgoing(
            key=key,
            site=notice.site,
            ticket_id=notice.ticket_pk,
            audience=audience,
            recipient=recipient,
            targets=targets,
            title=text.title,
            body=text.body,
            level=notice.level.value,
            asset=asset.id if asset else None,
            lang=lang,
            line=line or text.title,
            release_at=release_at,
            quiet=quiet,
        )

    def _fields(
        self, notice: Notice, asset: Asset | None, lang: str, key: str, person: Person | None
    ) -> dict[str, str]:
        return notice_fields(self.site, self.settings, notice, asset, lang, ref=ref_of(key), person=person)


def _ladder(asset: Asset) -> bool:
    """The owners' voice's pseudo assets: ``owners`` and ``owners-<building>``."""
    return asset.id == OWNERS_ASSET or asset.id.startswith(f"{OWNERS_ASSET}-")


__all__ = [
    "DIGEST_LINES",
    "FALLBACK",
    "OWNERS",
    "SEVERITY",
    "Outgoing",
    "Planner",
    "owner_groups",
    "quiet_until",
    "ref_of",
]
