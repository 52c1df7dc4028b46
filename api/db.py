"""The API's tables in the state database: API tokens (stored as SHA-256 hashes, never in clear),
idempotency keys of POST requests, webhook subscriptions and their deliveries.

Migrations: ``0002_api.py`` creates ``api_tokens``; ``0005_webhooks.py`` the others; ``0008_token_expiry.py``
adds token expiry, last use and ``stream_tickets``; ``0011_token_sites.py`` the token's sites; exactly as
declared here.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True, doc="Null: never expires"),
    Column("last_used_at", DateTime(timezone=True), nullable=True, doc="Updated at most once a minute"),
    Column("sites", Text, nullable=True, doc="Site ids the token is limited to (space-separated); null: all"),
)
Index("ix_api_tokens_name", api_tokens.c.name)

stream_tickets = Table(
    "stream_tickets",
    metadata,
    Column("ticket_hash", String(64), primary_key=True, doc="SHA-256 of the ticket (never stored in clear)"),
    Column("token_id", String(32), nullable=False, doc="The token the ticket was issued to"),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True, doc="Set by the one stream it opened"),
)
Index("ix_stream_tickets_expires_at", stream_tickets.c.expires_at)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("principal", String(64), nullable=False, doc="Hash of the bearer token: keys are per caller"),
    Column("key", String(200), nullable=False),
    Column("route", String(300), nullable=False, doc="METHOD and path"),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=True, doc="Null while the first request is still being answered"),
    Column("body", LargeBinary, nullable=True),
    Column("content_type", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("principal", "key", name="uq_idempotency_principal_key"),
)
Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("events", String(200), nullable=False, doc="Space-separated event types: alert, ticket"),
    Column("secret", String(200), nullable=False, doc="Shared HMAC secret (needed in clear to sign)"),
    Column("owner", String(200), nullable=False, doc="Name of the token that subscribed"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # 0010_events: the secret being rotated out, still signed with until ``previous_until``.
    Column("previous_secret", String(200), nullable=True),
    Column("previous_until", DateTime(timezone=True), nullable=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(32), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("event_id", BigInteger, nullable=False),  # 0010: the event log's id
    Column("body", Text, nullable=False, doc="The exact JSON that is signed and sent"),
    Column("status", String(20), nullable=False, doc="pending, delivered or failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True, doc="HTTP status of the last attempt"),
    Column("last_error", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
Index("ix_webhook_deliveries_webhook", webhook_deliveries.c.webhook_id, webhook_deliveries.c.id)
