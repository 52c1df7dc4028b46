"""facwatch's replies in the owners' chat groups, and the people the ladder calls (docs/owners.md).

Everything goes through the outbox (durable, retried, isolated), keyed so that each reply is queued once:

- **Acknowledgement** (``tell_chat_groups``, run by the delivery loop): the first complaint in a group after
  a quiet ``window_s`` gets one reply, at once (well within practice's 10 minutes): "received, we are on
  it", or, when the complaint joined an open alert's ticket, "the alarm is in, ticket T-… is being
  handled".
- **Progress, plan B, all-clear** (``ChatReplies.plan``, called by ``OutboxNotifier`` for every notice of
  the engine): a ticket that complaints of a group joined speaks to that group's robot in the very words
  the owners' groups get (``Planner.owner_items``: the same templates, zh/en), whatever the ticket's level.
- **The ladder's people**: the steward rung (``owners.complaints``) tells the group's steward on their
  channels and @-mentions them in the group (DingTalk ``at.atMobiles``); the mood rung tells the project
  manager; a crisis tells the manager, every steward and the fallback person, with the emergency plan's
  checklist and a holding statement to post once checked (templates ``chat_*``, editable per site
  through ``notify.template_dir``).

Owners' quiet hours hold every group reply except those about a RED ticket, as for the owners' groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from alerts.engine.chat import MOOD, RUNGS, STEWARD, owners_asset
from alerts.engine.chat_db import chat_messages
from alerts.engine.db import parse_ref, ticket_ref, tickets, utc, utc_now
from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.audiences import Outgoing, Planner, owner_groups, quiet_until, ref_of
from alerts.notify.messages import SERVICE, Templates, localized
from alerts.notify.writer import Outbox
from facwatch.config import NotifySettings
from facwatch.model import AssetKind, ChatGroup, Level, OwnerGroup, Person, Site

CHAT = "chat"
"""The audience and key tag of replies in a chat group."""
KIND_WORDS = {
    "zh": {"elevator": "电梯", "pump": "供水", "power": "供电", None: "设施"},
    "en": {"elevator": "the elevator", "pump": "the water supply", "power": "the power supply", None: "this"},
}


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint as the acknowledgement needs it (from ``chat_messages``)."""

    msg_id: str
    group: str
    at: datetime
    asset_kind: AssetKind | None
    ticket: str | None = None
    """The ticket it joined (its reference), if any."""
    level: Level | None = None
    """That ticket's level."""
    asset: str | None = None
    """That ticket's asset."""


def to_acknowledge(complaints: Sequence[Complaint], window_s: float, since: datetime) -> list[Complaint]:
    """The complaints that open a new thread in their group (none in the ``window_s`` before them) and
    arrived after ``since``: each is answered once."""
    last: dict[str, datetime] = {}
    first = []
    for c in sorted(complaints, key=lambda c: (c.at, c.msg_id)):
        before = last.get(c.group)
        if (before is None or c.at - before > timedelta(seconds=window_s)) and c.at > since:
            first.append(c)
        last[c.group] = c.at
    return first


def mention_url(robot: str, mobile: str) -> str:
    """The robot's URL that @-mentions ``mobile``: DingTalk only (apprise puts it in ``at.atMobiles``)."""
    if not mobile or not robot.startswith("dingtalk://"):
        return robot
    base, sep, query = robot.partition("?")
    return f"{base.rstrip('/')}/{mobile}/{sep}{query}"


def service_words(site: Site, lang: str) -> dict[str, str]:
    service = localized(site.service_name, lang) if site.service_name else ""
    return {
        "service": service or SERVICE[lang].format(site=localized(site.name, lang)),
        "phone": site.service_phone or "—",
        "site": localized(site.name, lang),
    }


class ChatReplies:
    """Plans what the chat groups and the ladder's people hear (pure but for ``joined_groups``' read)."""

    def __init__(self, site: Site, settings: NotifySettings, planner: Planner) -> None:
        self.site, self.settings, self.planner = site, settings, planner
        self.templates: Templates = planner.templates

    # --- the acknowledgement -----------------------------------------------------------------------------

    def acknowledgement(self, group: ChatGroup, complaint: Complaint) -> Outgoing | None:
        if not group.robot:
            return None
        asset = self.site.asset(complaint.asset) if complaint.asset else None
        name = "chat_ack_ticket" if complaint.ticket else "chat_ack"

        def fields(lang: str) -> dict[str, str]:
            what = localized(asset.name, lang) if asset else KIND_WORDS[lang][_kind(complaint.asset_kind)]
            return {**service_words(self.site, lang), "asset": what, "ticket": complaint.ticket or ""}

        text = self.templates.render(name, group.lang, fields)
        key = f"{CHAT}:{self.site.id}:{group.id}:ack:{complaint.msg_id}"
        urgent = complaint.level is Level.RED
        return self._group_item(
            group, key, group.robot, text.title, text.body, complaint.at, urgent, complaint
        )

    # --- a ticket the group complained about ---------------------------------------------------------------

    def plan(self, conn: Connection, notice: Notice) -> list[Outgoing]:
        items = self._ladder(notice)
        if notice.asset is not None and notice.kind is not NoticeKind.OPENED:
            groups = self.joined_groups(conn, notice.ticket)
            if groups:
                heard = {url for g in owner_groups(self.site, notice.asset) for url in g.notify}
                owners = [
                    OwnerGroup(g.building, g.name or g.id, (g.robot,), g.lang)
                    for g in groups
                    if g.robot and g.robot not in heard  # a group the owners' messages reach already
                ]
                items += self.planner.owner_items(notice, notice.asset, owners, tag=CHAT)
        return items

    def joined_groups(self, conn: Connection, ticket: str) -> list[ChatGroup]:
        if not any(g.robot for g in self.site.chat.groups):
            return []
        rows = conn.execute(
            select(chat_messages.c.group_id)
            .where(chat_messages.c.site == self.site.id, chat_messages.c.ticket_id == ticket)
            .distinct()
        ).all()
        found = {row.group_id for row in rows}
        return [g for g in self.site.chat.groups if g.id in found]

    # --- the ladder's people -----------------------------------------------------------------------------

    def _ladder(self, notice: Notice) -> list[Outgoing]:
        finding = str(notice.detail.get("finding") or "")
        if notice.kind is not NoticeKind.OPENED or finding not in RUNGS:
            return []
        chat = self.site.chat
        groups = [
            g for g in chat.groups if owners_asset(g.building) == (notice.asset.id if notice.asset else "")
        ]
        count = str(int(notice.detail.get("value") or 0))
        items: list[Outgoing] = []
        if finding == STEWARD:
            for group in groups:
                steward = self.site.person(group.steward) if group.steward else None
                if steward is None:
                    continue
                items += self._tell(notice, "chat_steward", steward, group, count)
                if group.robot:
                    items.append(self._mention(notice, group, steward))
        elif finding == MOOD:
            manager = self._manager()
            for group in groups:
                items += self._tell(notice, "chat_manager", manager, group, count)
        else:
            told: dict[str, Person] = {}
            for person in (self._manager(), *(self.site.person(g.steward or "") for g in chat.groups)):
                if person is not None:
                    told.setdefault(person.id, person)
            if self.site.fallback and (fallback := self.site.person(self.site.fallback)) is not None:
                told.setdefault(fallback.id, fallback)
            for person in told.values():
                items += self._tell(notice, "chat_crisis", person, None, count)
        return items

    def _manager(self) -> Person | None:
        chat = self.site.chat
        if chat.manager and (person := self.site.person(chat.manager)) is not None:
            return person
        return next((p for p in self.site.people if p.role == "manager"), None)

    def _fields(
        self, notice: Notice, lang: str, person: Person | None, group: ChatGroup | None, count: str
    ) -> Mapping[str, str]:
        building = group.building if group else ""
        name = next((b.name for b in self.site.buildings if b.id == building), building)
        link = f"\n{self.settings.board_url}#ticket={notice.ticket}" if self.settings.board_url else ""
        names = [g.name or g.id for g in self.site.chat.groups]
        return {
            **service_words(self.site, lang),
            "person": localized(person.name, lang) if person else "",
            "recipient": (group.name or group.id) if group else "",
            "building": localized(name, lang),
            "ticket": notice.ticket,
            "ticket_link": link,
            "count": count,
            "items": "、".join(names) if lang == "zh" else ", ".join(names),
            "summary": notice.summary,
            "level_name": localized(notice.level.value.upper(), lang),
        }

    def _tell(
        self, notice: Notice, name: str, person: Person | None, group: ChatGroup | None, count: str
    ) -> list[Outgoing]:
        if person is None or not person.notify:
            return []
        text = self.templates.render(
            name, person.lang, lambda lang: self._fields(notice, lang, person, group, count)
        )
        key = f"{notice.key}:{CHAT}:{name}:{group.id if group else '-'}:{person.id}"
        return [
            Outgoing(
                key=key,
                site=self.site.id,
                ticket_id=notice.ticket_pk,
                audience=person.role,
                recipient=person.id,
                targets=person.notify,
                title=text.title,
                body=text.body + f"\n[{ref_of(key)}]",
                level=notice.level.value,
                asset=notice.asset.id if notice.asset else None,
                lang=person.lang,
            )
        ]

    def _mention(self, notice: Notice, group: ChatGroup, steward: Person) -> Outgoing:
        """The group hears that its steward is called, with the steward @-mentioned where the robot can."""

        def fields(lang: str) -> Mapping[str, str]:
            values = dict(self._fields(notice, lang, steward, group, ""))
            at = group.steward_mobile if group.robot.startswith("dingtalk://") else ""
            values["person"] = f"@{at}" if at else f"@{values['person']}"
            return values

        text = self.templates.render("chat_steward_group", group.lang, fields)
        key = f"{notice.key}:{CHAT}:{group.id}:steward"
        url = mention_url(group.robot, group.steward_mobile)
        return self._group_item(group, key, url, text.title, text.body, notice.at, False, None, notice)

    # --- common ----------------------------------------------------------------------------------------------

    def _group_item(
        self,
        group: ChatGroup,
        key: str,
        url: str,
        title: str,
        body: str,
        at: datetime,
        urgent: bool,
        complaint: Complaint | None,
        notice: Notice | None = None,
    ) -> Outgoing:
        s = self.settings
        release_at: datetime | None = None
        quiet = False
        if s.quiet_hours and not urgent:
            until = quiet_until(at, self.site.timezone, s.quiet_start, s.quiet_end)
            if until is not None:
                release_at, quiet = until, True
        level = (
            notice.level.value
            if notice
            else (complaint.level.value if complaint and complaint.level else None)
        )
        return Outgoing(
            key=key,
            site=self.site.id,
            ticket_id=notice.ticket_pk if notice else None,
            audience=CHAT,
            recipient=group.id,
            targets=(url,),
            title=title,
            body=body,
            level=level,
            asset=(notice.asset.id if notice and notice.asset else None),
            lang=group.lang,
            release_at=release_at,
            quiet=quiet,
        )


def tell_chat_groups(
    engine: Engine,
    site: Site,
    now: datetime,
    settings: NotifySettings | None = None,
    templates: Templates | None = None,
    outbox: Outbox | None = None,
) -> int:
    """Queue the acknowledgement of each new thread of complaints in a group with a robot (delivery loop).
    Only complaints of the last ``window_s`` are answered: a loop that was down a day does not answer
    yesterday. Returns how many replies were queued."""
    robots = {g.id: g for g in site.chat.groups if g.robot}
    if not robots:
        return 0
    settings = settings or NotifySettings()
    templates = templates or Templates(settings.template_dir)
    replies = ChatReplies(site, settings, Planner(site, settings, templates))
    window = timedelta(seconds=site.chat.window_s)
    now = utc_now(now)  # SQLite compares times as text: UTC on both sides
    m = chat_messages
    with engine.begin() as conn:
        rows = conn.execute(
            select(m.c.msg_id, m.c.group_id, m.c.at, m.c.asset_kind, m.c.ticket_id).where(
                m.c.site == site.id, m.c.complaint.is_(True), m.c.at > now - 2 * window
            )
        ).all()
        pks = {pk for r in rows if r.ticket_id and (pk := parse_ref(r.ticket_id, "T")) is not None}
        joined = (
            {
                ticket_ref(t.id): (Level(t.level), t.asset)
                for t in conn.execute(
                    select(tickets.c.id, tickets.c.level, tickets.c.asset).where(tickets.c.id.in_(pks))
                )
            }
            if pks
            else {}
        )
        complaints = [
            Complaint(
                r.msg_id,
                r.group_id,
                utc(r.at) or now,
                AssetKind(r.asset_kind) if r.asset_kind else None,
                r.ticket_id,
                *joined.get(r.ticket_id or "", (None, None)),
            )
            for r in rows
            if r.group_id in robots
        ]
        items = [
            item
            for c in to_acknowledge(complaints, site.chat.window_s, now - window)
            if (item := replies.acknowledgement(robots[c.group], c)) is not None
        ]
        return (outbox or Outbox(settings.red_channels)).enqueue(conn, items, now)


def _kind(kind: AssetKind | None) -> str | None:
    return kind.value if kind is not None else None
