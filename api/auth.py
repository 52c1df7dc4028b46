"""API tokens: created once and shown once, stored as SHA-256 hashes, checked on every request.

A token is 32 random bytes, so a plain SHA-256 of it is as safe to store as a slow password hash would be,
and costs microseconds. Valid tokens are cached for ``CACHE_S`` seconds (per process): a request then needs
no database round trip for its token. ``revoke`` clears the cache at once; a token revoked by another
process (``facwatch token revoke``) is refused within ``CACHE_S``.

A token may expire (``facwatch token create --expires 90d``); every token records when it was last used
(written at most once a minute). An open event stream checks its token every ``STREAM_CHECK_S``.

Stream tickets: a browser's EventSource cannot send a header, and a long-lived token in a URL ends up in
proxy logs. So a client POSTs (with its token) for a ticket, valid ``TICKET_S`` seconds and good for opening
one stream once; the stream then runs as the ticket's token, and ends when that token is revoked or expires.

Scopes, and what each grants (``admin`` implies all):

    viewer       read alerts, tickets, assets, readings, the event stream
    engineer     viewer + ticket actions (acknowledge, check in, resolve, ...) + dead letters
    manager      engineer
    integration  engineer: a ticket system that follows alerts and updates tickets; a chat bridge that
                 posts owners' group messages (``POST /chat/messages``)
    admin        everything

Sites: a token may be limited to some sites (``facwatch token create --site a --site b``): it then sees only
those sites' alerts, tickets, assets, readings and events, and another site's objects answer 404 as if they
did not exist. A token without sites sees every site.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Engine, Insert, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.db import api_tokens, stream_tickets
from facwatch.clock import Clock, WallClock


class Scope(StrEnum):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    MANAGER = "manager"
    INTEGRATION = "integration"
    ADMIN = "admin"


_GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.VIEWER: frozenset({Scope.VIEWER}),
    Scope.ENGINEER: frozenset({Scope.ENGINEER, Scope.VIEWER}),
    Scope.MANAGER: frozenset({Scope.MANAGER, Scope.ENGINEER, Scope.VIEWER}),
    Scope.INTEGRATION: frozenset({Scope.INTEGRATION, Scope.ENGINEER, Scope.VIEWER}),
    Scope.ADMIN: frozenset(Scope),
}
_NAMES = frozenset(scope.value for scope in Scope)
CACHE_S = 5.0
"""How long a verified token is trusted without asking the database again."""
CACHE_MAX = 1024
"""Cached tokens at most (only valid ones are cached; the cache starts over when full)."""
LAST_USED_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token."""
ACTIVE_CACHE_S = 1.0
"""How long one answer of ``active`` serves every open stream of a token (so 200 streams cost one query)."""
TICKET_S = 60.0
"""A stream ticket opens a stream within this many seconds, once."""
_SITE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXPIRY = re.compile(r"([0-9]{1,5})([hdw])")
_EXPIRY_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_EXPIRY = timedelta(days=3660)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: the token's id and name (the actor of ticket actions), its scopes and its sites."""

    id: str
    name: str
    scopes: frozenset[Scope]
    sites: frozenset[str] | None = None
    """The sites the token is limited to; None: every site."""

    def allows(self, needed: Scope) -> bool:
        return any(needed in _GRANTS[scope] for scope in self.scopes)

    def sees(self, site: str) -> bool:
        """Whether the token may see the site's objects."""
        return self.sites is None or site in self.sites


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    sites: tuple[str, ...] | None = None
    """The sites the token is limited to; None: every site."""


def parse_expiry(text: str) -> timedelta:
    """``12h``, ``90d``, ``8w`` as a duration; ValueError naming the text otherwise."""
    match = _EXPIRY.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"expiry {text!r} is not a duration such as 12h, 90d or 8w")
    span = int(match.group(1)) * _EXPIRY_UNITS[match.group(2)]
    if not timedelta(0) < span <= MAX_EXPIRY:
        raise ValueError(f"expiry {text!r} must be between 1 hour and 10 years")
    return span


def _usable(now: datetime) -> ColumnElement[bool]:
    """Not revoked and not expired at ``now``."""
    return api_tokens.c.revoked_at.is_(None) & or_(
        api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now
    )


def parse_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    """Validated, deduplicated scopes in a stable order. Raises ValueError naming an unknown scope."""
    parsed: list[Scope] = []
    for raw in scopes:
        try:
            scope = Scope(raw.strip().lower())
        except ValueError:
            known = ", ".join(Scope)
            raise ValueError(f"unknown scope {raw!r}; choose from {known}") from None
        if scope not in parsed:
            parsed.append(scope)
    return tuple(parsed)


def parse_sites(sites: Iterable[str] | None) -> tuple[str, ...] | None:
    """Validated, deduplicated site ids (None or empty: every site). Raises ValueError naming a bad id."""
    if sites is None:
        return None
    parsed: list[str] = []
    for raw in sites:
        site = raw.strip()
        if not _SITE_ID.fullmatch(site):
            raise ValueError(f"site {raw!r} is not a site id ([A-Za-z0-9_-], at most 64)")
        if site not in parsed:
            parsed.append(site)
    return tuple(parsed) or None


def _sites_column(value: object) -> tuple[str, ...] | None:
    return None if not value else tuple(str(value).split())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _insert_if_missing(dialect: str, row: dict[str, object]) -> Insert:
    """``INSERT ... ON CONFLICT (token_hash) DO NOTHING`` in the words of ``dialect`` (SQLite or PostgreSQL)."""
    key = [api_tokens.c.token_hash]
    if dialect == "postgresql":
        return postgresql_insert(api_tokens).values(**row).on_conflict_do_nothing(index_elements=key)
    return sqlite_insert(api_tokens).values(**row).on_conflict_do_nothing(index_elements=key)


class TokenStore:
    def __init__(self, engine: Engine, clock: Clock | None = None, *, cache_s: float = CACHE_S) -> None:
        self._engine = engine
        self._clock = clock or WallClock()
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal]] = {}  # token hash -> (monotonic expiry, principal)
        self._active: dict[str, tuple[float, bool]] = {}  # token id -> (monotonic expiry, usable)

    @property
    def engine(self) -> Engine:
        """The state database the tokens live in (the API's other tables live there too)."""
        return self._engine

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        expires_at: datetime | None = None,
        sites: Iterable[str] | None = None,
    ) -> str:
        """A new random token with these scopes (and only these sites, if given); the token itself is
        returned once and never stored."""
        token = secrets.token_urlsafe(32)
        self.register(name, scopes, token, expires_at, sites)
        return token

    def register(
        self,
        name: str,
        scopes: Iterable[str],
        token: str,
        expires_at: datetime | None = None,
        sites: Iterable[str] | None = None,
    ) -> str:
        """Store a token chosen by the operator (e.g. ``api.admin_token``) unless it is stored already; returns
        its id. Idempotent and atomic on both databases (an insert that does nothing on a conflict of the hash):
        processes starting together with the same token store it once, and none of them fails."""
        if not name.strip():
            raise ValueError("a token needs a name")
        if len(token) < 16:
            raise ValueError("a token must be at least 16 characters long")
        parsed = parse_scopes(scopes)
        if not parsed:
            raise ValueError("a token needs at least one scope")
        limited = parse_sites(sites)
        digest = hash_token(token)
        row = {
            "id": uuid.uuid4().hex,
            "name": name.strip(),
            "token_hash": digest,
            "scopes": " ".join(parsed),
            "created_at": self._clock.now(),
            "revoked_at": None,
            "expires_at": expires_at,
            "sites": None if limited is None else " ".join(limited),
        }
        with self._engine.begin() as conn:
            conn.execute(_insert_if_missing(conn.dialect.name, row))
            # Ours, or the one stored first (read after the insert: on PostgreSQL the insert waited for it).
            stored = conn.execute(
                select(api_tokens.c.id).where(api_tokens.c.token_hash == digest)
            ).scalar_one()
        return str(stored)

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified less than ``cache_s`` ago, without I/O; None if unknown."""
        hit = self._cache.get(hash_token(token)) if token else None
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token, or None."""
        if not token:
            return None
        digest = hash_token(token)
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and hit[0] >= now:
            return hit[1]
        principal, expires_at = self._load(api_tokens.c.token_hash == digest)
        if principal is None:
            self._cache.pop(digest, None)
            return None
        soon = self._clock.now() + timedelta(seconds=self._cache_s)
        if self._cache_s > 0 and (expires_at is None or expires_at > soon):
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_s, principal)
        return principal

    def _load(self, which: ColumnElement[bool]) -> tuple[Principal | None, datetime | None]:
        """The principal of the usable token ``which`` selects (and its expiry); records its use."""
        now = self._clock.now()
        query = select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.scopes,
            api_tokens.c.expires_at,
            api_tokens.c.sites,
        ).where(which, _usable(now))
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None, None
        with self._engine.begin() as conn:
            conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == row.id,
                    or_(
                        api_tokens.c.last_used_at.is_(None),
                        api_tokens.c.last_used_at < now - LAST_USED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
        scopes = frozenset(Scope(s) for s in str(row.scopes).split() if s in _NAMES)
        limited = _sites_column(row.sites)
        sites = None if limited is None else frozenset(limited)
        principal = Principal(id=str(row.id), name=str(row.name), scopes=scopes, sites=sites)
        return principal, _aware(row.expires_at)

    def active(self, token_id: str) -> bool:
        """Whether the token is still usable (for long-lived streams): asked of the database, the answer shared
        for ``ACTIVE_CACHE_S`` by every stream of this token in this process."""
        hit = self._active.get(token_id)
        now = time.monotonic()
        if hit is not None and hit[0] >= now:
            return hit[1]
        query = select(api_tokens.c.id).where(api_tokens.c.id == token_id, _usable(self._clock.now()))
        with self._engine.connect() as conn:
            usable = conn.execute(query).first() is not None
        if len(self._active) >= CACHE_MAX:
            self._active.clear()
        self._active[token_id] = (now + ACTIVE_CACHE_S, usable)
        return usable

    def issue_ticket(self, principal: Principal) -> tuple[str, datetime]:
        """A single-use stream ticket for ``principal``'s token, and when it expires."""
        ticket = secrets.token_urlsafe(24)
        now = self._clock.now()
        expires_at = now + timedelta(seconds=TICKET_S)
        with self._engine.begin() as conn:
            conn.execute(delete(stream_tickets).where(stream_tickets.c.expires_at < now))
            conn.execute(
                insert(stream_tickets).values(
                    ticket_hash=hash_token(ticket), token_id=principal.id, expires_at=expires_at
                )
            )
        return ticket, expires_at

    def redeem_ticket(self, ticket: str) -> Principal | None:
        """The principal a valid, unused ticket was issued to (the ticket is used up); None otherwise."""
        if not ticket or len(ticket) > 200:
            return None
        now = self._clock.now()
        table = stream_tickets
        with self._engine.begin() as conn:
            token_id = conn.execute(
                select(table.c.token_id).where(table.c.ticket_hash == hash_token(ticket))
            ).scalar()
            used = conn.execute(
                update(table)
                .where(
                    table.c.ticket_hash == hash_token(ticket),
                    table.c.used_at.is_(None),
                    table.c.expires_at > now,
                )
                .values(used_at=now)
            ).rowcount
        if token_id is None or not used:
            return None
        return self._load(api_tokens.c.id == str(token_id))[0]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id; False when no such unrevoked token exists."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
        self._cache.clear()
        self._active.clear()
        return bool(result.rowcount)

    def list(self) -> list[TokenInfo]:
        """Every token, newest first (without the secrets, which are not stored)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at.desc())).all()
        return [
            TokenInfo(
                id=str(row.id),
                name=str(row.name),
                scopes=parse_scopes(str(row.scopes).split()),
                created_at=_aware(row.created_at) or self._clock.now(),
                revoked_at=_aware(row.revoked_at),
                expires_at=_aware(row.expires_at),
                last_used_at=_aware(row.last_used_at),
                sites=_sites_column(row.sites),
            )
            for row in rows
        ]
