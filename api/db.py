"""The API's tables in the state database: API tokens (stored as SHA-256 hashes, never in clear).

Migration: ``facwatch/migrations/versions/0002_api.py`` creates exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table

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
)
Index("ix_api_tokens_name", api_tokens.c.name)
