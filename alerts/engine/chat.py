"""The shell around the owners' chat (docs/owners.md): mask, analyse, keep (once per ``msg_id``), join, climb the ladder.

``receive(message, now)`` is what the route and every connector call: the message is kept first (the state
database has it before the answer), then judged at once when this process judges the site (``judges()``: it
runs the site's alerts and holds its lease; always, in one process). The ladder is judged at the message's
event time (never past ``now``), so a replayed day of chat climbs the rungs when it did then. Findings go to
the engine through ``FindingSink.observe_findings`` (``AlertService`` answers it).

The site's owner judges what others kept: ``catch_up(now)`` (every ``CATCH_UP_S`` in the owner's runtime)
judges each message kept since its last look, in event-time order, as ``receive`` would have (an API replica
that does not run the site only keeps the message: its findings would be unfenced writes of the engine).
Messages are found by ``received_at`` with a margin of ``CATCH_UP_SKEW`` for replicas' clocks, and each is
judged once per service (judging again is harmless: a finding the engine has is not news, and a message
joined to a ticket is not noted twice). ``tick(now)`` catches up, then judges the ladder at ``now`` (a complaint
no sensor confirmed within ``silent_s``) and forgets old text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from alerts.detection.chat.analyse import Analyser, Mood, building_number
from alerts.detection.chat.ladder import (
    CRISIS,
    MOOD,
    STEWARD,
    Figures,
    FiringAlert,
    Join,
    join,
    ladder,
    owners_asset,
    silent_finding,
    unit_of,
)
from alerts.detection.chat.lexicon import Lexicon, default_lexicon
from alerts.detection.chat.privacy import mask
from alerts.engine.chat_db import chat_messages
from alerts.engine.ports import ActionRequest, AlertQuery, AlertsApi
from facwatch.model import AlertState, AssetKind, ChatGroup, Finding, Site, TicketAction, utc_from_ms

RUNGS = (STEWARD, MOOD, CRISIS)
"""The ladder's finding kinds, for the notifications (which may not read the detection stage)."""
ACTOR = "owners-chat"
"""The actor of the timeline notes a complaint leaves on a ticket."""
MAX_TEXT = 4000
CATCH_UP_S = 2.0
"""How often the site's owner looks for messages that an API replica kept without judging them."""
CATCH_UP_SKEW = timedelta(seconds=60)
"""How far back of the newest ``received_at`` seen the owner looks again (replicas' clocks differ)."""


@runtime_checkable
class FindingSink(Protocol):
    def observe_findings(self, findings: Sequence[Finding], now: datetime | None = None) -> None: ...


class UnknownGroup(ValueError):
    """A message for a site or chat group the site file does not name."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """The body of ``POST /api/v1/chat/messages`` (ARCHITECTURE.md, "Owners' voice"), as every connector
    hands it on."""

    site: str
    group: str
    msg_id: str
    sender: str
    text: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Received:
    msg_id: str
    duplicate: bool
    complaint: bool
    asset_kind: AssetKind | None
    mood: Mood
    ticket_id: str | None = None
    """The ticket the complaint joined (a timeline note), if any."""


class ChatService:
    def __init__(
        self,
        engine: Engine,
        site: Site,
        alerts: AlertsApi,
        sink: FindingSink | None,
        analyser: Analyser,
        judges: Callable[[], bool] = lambda: True,
    ) -> None:
        self.engine, self.site, self.alerts, self.sink = engine, site, alerts, sink
        self.analyser, self.judges = analyser, judges
        self._lock = threading.Lock()  # one judgement at a time: the route's threads and the owner's loop
        self._seen: datetime | None = None  # the newest received_at caught up with
        self._judged: dict[str, datetime] = {}  # msg_id -> received_at, within CATCH_UP_SKEW of _seen

    @classmethod
    def build(
        cls, engine: Engine, site: Site, alerts: AlertsApi, judges: Callable[[], bool] = lambda: True
    ) -> ChatService:
        """``judges``: whether this process judges the site's messages as they arrive (it runs the site's
        alerts and holds it); when not, ``receive`` only keeps them and the owner catches up."""
        sink = alerts if isinstance(alerts, FindingSink) else None
        return cls(engine, site, alerts, sink, Analyser(_site_lexicon(site)), judges)

    def group(self, group_id: str) -> ChatGroup:
        group = self.site.chat.group(group_id)
        if group is None:
            raise UnknownGroup(f"no chat group {group_id!r} in site {self.site.id}")
        return group

    def receive(self, message: ChatMessage, now: datetime) -> Received:
        if message.site != self.site.id:
            raise UnknownGroup(f"unknown site {message.site!r}")
        group = self.group(message.group)
        text = mask(message.text[:MAX_TEXT])
        analysis = self.analyser.analyse(text, building_number(group.building))
        at = min(utc_from_ms(message.ts_ms), now)
        row = {
            "site": self.site.id,
            "msg_id": message.msg_id,
            "group_id": group.id,
            "building": group.building,
            "at": at,
            "received_at": now,
            "text": text,
            "complaint": analysis.complaint,
            "keywords": analysis.keywords,
            "asset_kind": analysis.asset_kind.value if analysis.asset_kind else None,
            "mood": analysis.mood.value,
            "other_building": analysis.other_building,
            "unit": unit_of(text),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(chat_messages).values(**row))
        except IntegrityError:
            return self._stored(message.msg_id)
        ticket = None
        if self.judges():
            with self._lock:
                ticket = self._judge(at, now, join_text=(message.msg_id, text))
        return Received(message.msg_id, False, analysis.complaint, analysis.asset_kind, analysis.mood, ticket)

    def catch_up(self, now: datetime) -> int:
        """Judge the messages kept since the last look and not judged here yet, in event-time order, each as
        ``receive`` would have. For the site's owner (every ``CATCH_UP_S``). Returns how many."""
        with self._lock:
            since = (self._seen or now) - CATCH_UP_SKEW
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        chat_messages.c.msg_id,
                        chat_messages.c.at,
                        chat_messages.c.received_at,
                        chat_messages.c.text,
                    )
                    .where(chat_messages.c.site == self.site.id, chat_messages.c.received_at > since)
                    .order_by(chat_messages.c.at, chat_messages.c.msg_id)
                ).all()
            fresh = [row for row in rows if row.msg_id not in self._judged]
            for row in fresh:
                self._judge(_utc(row.at), now, join_text=(row.msg_id, row.text or ""))
                self._judged[row.msg_id] = _utc(row.received_at)
            newest = max((_utc(row.received_at) for row in rows), default=None)
            if newest is not None and (self._seen is None or newest > self._seen):
                self._seen = newest
            elif self._seen is None:
                self._seen = since + CATCH_UP_SKEW
            horizon = self._seen - CATCH_UP_SKEW
            self._judged = {m: at for m, at in self._judged.items() if at > horizon}
            return len(fresh)

    def tick(self, now: datetime) -> None:
        """Catch up, judge the ladder again at ``now`` (rungs that ended, complaints no sensor confirmed) and
        forget the text of messages past ``keep_days``. For the clocks' loop (every minute is plenty)."""
        self.catch_up(now)
        with self._lock:
            self._judge(now, now, join_text=None)
        self.purge(now)

    def purge(self, now: datetime) -> int:
        """Forget the text of messages older than ``keep_days``; their figures stay. Returns how many."""
        before = now - timedelta(days=self.site.chat.keep_days)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(chat_messages)
                .where(
                    chat_messages.c.site == self.site.id,
                    chat_messages.c.at < before,
                    chat_messages.c.text.is_not(None),
                )
                .values(text=None)
            )
        return int(done.rowcount or 0)

    # --- the shell around the ladder --------------------------------------------------------------------

    def _stored(self, msg_id: str) -> Received:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(chat_messages).where(
                    chat_messages.c.site == self.site.id, chat_messages.c.msg_id == msg_id
                )
            ).one()
        kind = AssetKind(row.asset_kind) if row.asset_kind else None
        return Received(msg_id, True, row.complaint, kind, Mood(row.mood), row.ticket_id)

    def _recent(self, at: datetime) -> list[tuple[str, str | None, Figures]]:
        policy = self.site.chat
        since = at - timedelta(seconds=max(policy.window_s, policy.mood_s * 2, policy.silent_s * 2))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(chat_messages).where(
                    and_(
                        chat_messages.c.site == self.site.id,
                        chat_messages.c.at > since,
                        chat_messages.c.at <= at,
                    )
                )
            ).all()
        return [
            (
                row.msg_id,
                row.ticket_id,
                Figures(
                    row.group_id,
                    row.building,
                    _utc(row.at),
                    row.complaint,
                    row.keywords,
                    AssetKind(row.asset_kind) if row.asset_kind else None,
                    Mood(row.mood),
                    row.unit,
                ),
            )
            for row in rows
        ]

    def _firing(self) -> list[FiringAlert]:
        page = self.alerts.list_alerts(AlertQuery(site=self.site.id, state=AlertState.FIRING, limit=500))
        return [FiringAlert(a.asset, a.kind, a.ticket_id) for a in page.items]

    def _judge(self, at: datetime, now: datetime, join_text: tuple[str, str] | None) -> str | None:
        recent = self._recent(at)
        firing = self._firing()
        findings = ladder([f for _, _, f in recent], self.site, at)
        joined: str | None = None
        silent: dict[str, Finding] = {}
        for msg_id, ticket_id, figures in recent:
            if not figures.complaint or ticket_id is not None:
                continue
            outcome, target = join(figures, self.site, firing, self.site.chat.silent_s, at)
            if outcome is Join.JOINED and isinstance(target, FiringAlert) and target.ticket_id is not None:
                if join_text is not None and join_text[0] == msg_id:
                    joined = self._note(msg_id, target.ticket_id, figures, join_text[1], now)
            elif outcome is Join.SILENT and target is not None and not isinstance(target, FiringAlert):
                silent[target.id] = silent_finding(self.site, target, figures, True, at)
        findings.extend(silent.values())
        findings.extend(
            silent_finding(self.site, a, None, False, at) for a in self.site.assets if a.id not in silent
        )
        if self.sink is not None:
            self.sink.observe_findings(findings, now)
        return joined

    def _note(self, msg_id: str, ticket_id: str, figures: Figures, text: str, now: datetime) -> str:
        """The complaint on the ticket's timeline, once: the message is claimed for the ticket first (two
        processes may judge it at the same moment), and given back if the note cannot be written."""
        mine = (chat_messages.c.site == self.site.id) & (chat_messages.c.msg_id == msg_id)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(chat_messages)
                .where(mine, chat_messages.c.ticket_id.is_(None))
                .values(ticket_id=ticket_id)
            ).rowcount
        if claimed != 1:
            return ticket_id  # noted by another judgement
        note = f"业主群 owners' group {figures.group}: {text}"
        try:
            self.alerts.act(ticket_id, ActionRequest(TicketAction.COMMENT, ACTOR, note=note), now)
        except Exception:
            with self.engine.begin() as conn:
                conn.execute(update(chat_messages).where(mine).values(ticket_id=None))
            raise
        return ticket_id


def _site_lexicon(site: Site) -> Lexicon:
    return default_lexicon().with_additions(site.chat.lexicon)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


__all__ = [
    "CRISIS",
    "MOOD",
    "RUNGS",
    "STEWARD",
    "ChatMessage",
    "ChatService",
    "Received",
    "UnknownGroup",
    "owners_asset",
]
