"""API tokens: created once and shown once, stored as SHA-256 hashes, checked on every request.

A token is 32 random bytes, so a plain SHA-256 of it is as safe to store as a slow password hash would be,
and costs microseconds. Valid tokens are cached for ``CACHE_S`` seconds (per process): a request then needs
no database round trip for its token. ``revoke`` clears the cache at once; a token revoked by another
process (``facwatch token revoke``) is refused within ``CACHE_S``.

Scopes, and what each grants (``admin`` implies all):

    viewer       read alerts, tickets, assets, readings, the event stream
    engineer     viewer + ticket actions (acknowledge, check in, resolve, ...) + dead letters
    manager      engineer
    integration  engineer: a ticket system that follows alerts and updates tickets
    admin        everything
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, insert, select, update

from api.db import api_tokens
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


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: the token's id and name (the actor of ticket actions) and its scopes."""

    id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, needed: Scope) -> bool:
        return any(needed in _GRANTS[scope] for scope in self.scopes)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    name: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked_at: datetime | None


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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


class TokenStore:
    def __init__(self, engine: Engine, clock: Clock | None = None, *, cache_s: float = CACHE_S) -> None:
        self._engine = engine
        self._clock = clock or WallClock()
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal]] = {}  # token hash -> (monotonic expiry, principal)

    @property
    def engine(self) -> Engine:
        """The state database the tokens live in (the API's other tables live there too)."""
        return self._engine

    def create(self, name: str, scopes: Iterable[str]) -> str:
        """A new random token with these scopes; the token itself is returned once and never stored."""
        token = secrets.token_urlsafe(32)
        self.register(name, scopes, token)
        return token

    def register(self, name: str, scopes: Iterable[str], token: str) -> str:
        """Store a token chosen by the operator (e.g. ``api.admin_token``); idempotent. Returns its id."""
        if not name.strip():
            raise ValueError("a token needs a name")
        if len(token) < 16:
            raise ValueError("a token must be at least 16 characters long")
        parsed = parse_scopes(scopes)
        if not parsed:
            raise ValueError("a token needs at least one scope")
        digest = hash_token(token)
        with self._engine.begin() as conn:
            existing = conn.execute(select(api_tokens.c.id).where(api_tokens.c.token_hash == digest)).scalar()
            if existing is not None:
                return str(existing)
            token_id = uuid.uuid4().hex
            conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    name=name.strip(),
                    token_hash=digest,
                    scopes=" ".join(parsed),
                    created_at=self._clock.now(),
                    revoked_at=None,
                )
            )
        return token_id

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
        query = select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.scopes).where(
            api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            self._cache.pop(digest, None)
            return None
        scopes = frozenset(Scope(s) for s in str(row.scopes).split() if s in _NAMES)
        principal = Principal(id=str(row.id), name=str(row.name), scopes=scopes)
        if self._cache_s > 0:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (now + self._cache_s, principal)
        return principal

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by its id; False when no such unrevoked token exists."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
        self._cache.clear()
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
            )
            for row in rows
        ]
