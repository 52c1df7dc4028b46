"""The shell around the owners' chat (docs/owners.md): mask, analyse, keep (once per ``msg_id``), join, climb the ladder.

``receive(message, now)`` is what the route and every connector call: the message is kept first (the state
database has it before the answer), then judged at once when this process judges the site (``judges()``: it
runs the site's alerts and holds its lease; always, in one process). The ladder is judged at the message's
event time (never past ``now``), so a replayed day of chat climbs the rungs when it did then. Findings go to
the engine through ``FindingSink.observe_findings`` (``AlertService`` answers it).

Each kept message records when it was judged (``judged_at``, NULL until then; alerts/engine/chat_db.py). The
site's owner judges what others kept: ``catch_up(now)`` (every ``CATCH_UP_S`` in the owner's runtime) judges
the site's messages not judged yet, in event-time order, as ``receive`` would have: at most ``CATCH_UP_PAGE``
and ``CATCH_UP_BUDGET_S`` a call (a backlog cannot hold the clocks up; the runtime looks again at its next
tick while it finds some), none older than ``keep_days`` (their text is gone). An API
replica that does not run the site only keeps the message: its findings would be unfenced writes of the
engine. So a message kept while no process ran the site (a worker down, a site being handed over) is judged
when an owner comes, however long after, and a restarted owner does not judge again what was judged.

Once: a message is marked judged after its findings are committed, by a conditional update (``WHERE
judged_at IS NULL``); a complaint joined to a ticket is marked in the transaction that claims its note. In one
process one lock per site serialises the judgements (the route's and the owner's loop's) and a message
already judged is skipped; two processes (an owner stopping, the next starting) are kept apart by the lease
(the stale owner's findings are refused, so it marks nothing) and by the conditional marks (one notes the
complaint). A process that dies between committing a message's findings and marking it leaves it to be
judged again: harmless (a finding the engine has is not news, and a noted complaint is not noted twice).
``tick(now)`` catches up, then judges the ladder at ``now`` (a complaint no sensor confirmed within
``silent_s``) and forgets old text.
"""

from __future__ import annotations

import threading
import time
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
from alerts.engine.chat_db import chat_messages, judged, mark_judged, unjudged
from alerts.engine.ports import ActionRequest, AlertQuery, AlertsApi
from facwatch.model import AlertState, AssetKind, ChatGroup, Finding, Site, TicketAction, utc_from_ms

RUNGS = (STEWARD, MOOD, CRISIS)
"""The ladder's finding kinds, for the notifications (which may not read the detection stage)."""
ACTOR = "owners-chat"
"""The actor of the timeline notes a complaint leaves on a ticket."""
MAX_TEXT = 4000
CATCH_UP_S = 2.0
"""How often the site's owner looks for messages that an API replica kept without judging them."""
CATCH_UP_PAGE = 100
"""The most messages one ``catch_up`` reads and judges; the rest wait for the next look."""
CATCH_UP_BUDGET_S = 0.5
"""How long one ``catch_up`` may go on judging (it runs in the clocks' loop; a judgement of the demo site took
55 to 125 ms on a shared 2-core machine, bench/chat_catch_up.py): past it, the rest of the page waits for the
next look (one message at least a look)."""


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
        lock: threading.Lock | None = None,
    ) -> None:
        self.engine, self.site, self.alerts, self.sink = engine, site, alerts, sink
        self.analyser, self.judges = analyser, judges
        # One judgement of the site at a time in this process: the route's threads and the owner's loop hold
        # services of their own, so the lock is the site's (``lock``: another, for tests of two processes).
        self._lock = lock or _site_lock(site.id)

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
            done, ticket = self._judge_kept(message.msg_id, at, text, now)
            if not done:  # the owner's catch-up judged it in between
                ticket = self._stored(message.msg_id).ticket_id
        return Received(message.msg_id, False, analysis.complaint, analysis.asset_kind, analysis.mood, ticket)

    def catch_up(self, now: datetime, budget_s: float | None = CATCH_UP_BUDGET_S) -> int:
        """Judge the site's kept messages not judged yet (none older than ``keep_days``), in event-time order,
        each as ``receive`` would have, and mark them: at most ``CATCH_UP_PAGE``, and none more once
        ``budget_s`` is spent (None: no limit but the page). For the site's owner (every ``CATCH_UP_S``, and
        at once again while it finds some). Returns how many this call judged."""
        since = now - timedelta(days=self.site.chat.keep_days)
        with self.engine.connect() as conn:
            page = unjudged(conn, self.site.id, since, CATCH_UP_PAGE)
        began, done = time.monotonic(), 0
        for row in page:
            if budget_s is not None and done and time.monotonic() - began >= budget_s:
                break
            done += self._judge_kept(row.msg_id, _utc(row.at), row.text or "", now)[0]
        return done

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

    def _judge_kept(self, msg_id: str, at: datetime, text: str, now: datetime) -> tuple[bool, str | None]:
        """Judge a kept message unless it has been, then mark it: (judged by this call, the ticket it joined)."""
        with self._lock:
            with self.engine.connect() as conn:
                if judged(conn, self.site.id, msg_id):
                    return False, None
            ticket = self._judge(at, now, join_text=(msg_id, text))
            with self.engine.begin() as conn:
                mark_judged(conn, self.site.id, msg_id, now)
            return True, ticket

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
        """The ladder at ``at`` to the engine, then (``join_text``: the message judged, and its text) the note of
        that complaint on the ticket it joins, if any: after the findings, so that a message marked with its
        note never lacks its findings. Returns the ticket noted."""
        recent = self._recent(at)
        firing = self._firing()
        findings = ladder([f for _, _, f in recent], self.site, at)
        joins: tuple[str, Figures] | None = None
        silent: dict[str, Finding] = {}
        for msg_id, ticket_id, figures in recent:
            if not figures.complaint or ticket_id is not None:
                continue
            outcome, target = join(figures, self.site, firing, self.site.chat.silent_s, at)
            if outcome is Join.JOINED and isinstance(target, FiringAlert) and target.ticket_id is not None:
                if join_text is not None and join_text[0] == msg_id:
                    joins = (target.ticket_id, figures)
            elif outcome is Join.SILENT and target is not None and not isinstance(target, FiringAlert):
                silent[target.id] = silent_finding(self.site, target, figures, True, at)
        findings.extend(silent.values())
        findings.extend(
            silent_finding(self.site, a, None, False, at) for a in self.site.assets if a.id not in silent
        )
        if self.sink is not None:
            self.sink.observe_findings(findings, now)
        if joins is None or join_text is None:
            return None
        return self._note(join_text[0], joins[0], joins[1], join_text[1], now)

    def _note(self, msg_id: str, ticket_id: str, figures: Figures, text: str, now: datetime) -> str | None:
        """The complaint on the ticket's timeline, once: the message is claimed for the ticket and marked
        judged in one conditional update first (two processes may judge it at the same moment: one claims
        it), and given back, unjudged, if the note cannot be written."""
        m = chat_messages
        mine = (m.c.site == self.site.id) & (m.c.msg_id == msg_id)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(m)
                .where(mine, m.c.ticket_id.is_(None), m.c.judged_at.is_(None))
                .values(ticket_id=ticket_id, judged_at=now)
            ).rowcount
        if claimed != 1:  # judged by another process meanwhile: its note, if any
            return self._stored(msg_id).ticket_id
        note = f"业主群 owners' group {figures.group}: {text}"
        try:
            self.alerts.act(ticket_id, ActionRequest(TicketAction.COMMENT, ACTOR, note=note), now)
        except Exception:
            with self.engine.begin() as conn:
                conn.execute(update(m).where(mine).values(ticket_id=None, judged_at=None))
            raise
        return ticket_id


_site_locks: dict[str, threading.Lock] = {}
_site_locks_lock = threading.Lock()


def _site_lock(site: str) -> threading.Lock:
    with _site_locks_lock:
        return _site_locks.setdefault(site, threading.Lock())


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
