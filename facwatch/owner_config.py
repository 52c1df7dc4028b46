"""The owners' report page: the site file's ``[owner_sla.<category>]`` tables and the ``[owners]`` settings.

Kept apart from ``facwatch/config.py``: the site parser calls ``parse_owner_sla`` with one line, and the
settings hold one ``owners`` field (docs/owners.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from facwatch.errors import ConfigError
from facwatch.files import write_private
from facwatch.model import CATEGORIES, DEFAULT_OWNER_SLA, CategorySla, OwnerSlaPolicy


class CategorySlaIn(BaseModel):
    """One ``[owner_sla.<category>]`` table: seconds from the report; 0 switches a clock off."""

    model_config = ConfigDict(extra="forbid")

    acknowledge_s: float | None = Field(default=None, gt=0)
    on_site_s: float | None = Field(default=None, ge=0)
    fixed_s: float | None = Field(default=None, ge=0)


class OwnerSlaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    leak: CategorySlaIn | None = None
    elevator: CategorySlaIn | None = None
    power: CategorySlaIn | None = None
    noise: CategorySlaIn | None = None
    cleaning: CategorySlaIn | None = None
    security: CategorySlaIn | None = None
    other: CategorySlaIn | None = None


def _merge(default: CategorySla, given: CategorySlaIn | None) -> CategorySla:
    if given is None:
        return default
    named = given.model_fields_set

    def pick(key: str, current: float | None) -> float | None:
        if key not in named:
            return current
        value: float | None = getattr(given, key)
        return None if not value else float(value)

    return CategorySla(
        acknowledge_s=pick("acknowledge_s", default.acknowledge_s),
        on_site_s=pick("on_site_s", default.on_site_s),
        fixed_s=pick("fixed_s", default.fixed_s),
    )


def parse_owner_sla(raw: Any, fail: Callable[[str], ConfigError]) -> OwnerSlaPolicy:
    """``[owner_sla.leak]`` … over the defaults; an unknown category or key names itself in the error."""
    try:
        parsed = OwnerSlaIn.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"owner_sla.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise fail(problems) from exc
    return OwnerSlaPolicy(
        categories={name: _merge(DEFAULT_OWNER_SLA[name], getattr(parsed, name)) for name in CATEGORIES}
    )


class OwnerReportSettings(BaseModel):
    """Settings ``[owners]``: the report page, its photos, rate limits and points."""

    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(default=None, min_length=16)
    """Signs the buildings' QR tokens and hashes the reporters' phone numbers (keep it secret, keep it
    stable: a new secret voids every QR code and every points balance's key). Unset: no report page."""
    public_url: str | None = None
    """The address owners reach the API at (the QR codes point there); default: ``http://HOST:PORT``."""
    photo_dir: Path | None = None
    """Default: DATA_DIR/owner-photos."""
    photo_max_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    """One photo's upload, refused with 413 before it is read whole."""
    photo_max_pixels: int = Field(default=40_000_000, ge=1_000_000)
    """A larger image is refused before it is decoded (a small file can hold a huge image)."""
    photo_max_side: int = Field(default=2048, ge=256)
    """Stored photos are scaled down to this many pixels on their longer side."""
    token_days: float = Field(default=365.0, gt=0)
    """How long a printed QR code's token stays valid."""
    window_s: float = Field(default=3600.0, gt=0)
    device_reports: int = Field(default=5, ge=1)
    """Reports one device (its cookie, else its address) may send within ``window_s``."""
    phone_reports: int = Field(default=3, ge=1)
    """Reports giving one phone number within ``window_s``."""
    device_photos: int = Field(default=15, ge=1)
    """Photos one device may upload within ``window_s``."""
    points_per_report: int = Field(default=10, ge=1)
    """Points a confirmed report earns its reporter."""
    updates_url: str | None = None
    """An apprise URL that texts an owner, ``{phone}`` replaced by their number (an SMS gateway, e.g.
    ``json://sms.example.com/send/{phone}``): reporters who tick "tell me" hear of each step. Unset: none."""


DEMO_SECRET = "owner-reports.secret"
"""The file in the data directory that keeps the demo's generated ``[owner_reports] secret`` (mode 0600)."""


def demo_secret(data_dir: Path) -> str:
    """The demo's report-page secret: read from the data directory, or made there once (0600), so that the
    printed QR codes stay valid across restarts of the same demo."""
    path = data_dir / DEMO_SECRET
    if path.exists():
        kept = path.read_text(encoding="utf-8").strip()
        if len(kept) >= 16:
            return kept
    data_dir.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(32)
    write_private(path, made.encode("ascii"))
    return made
