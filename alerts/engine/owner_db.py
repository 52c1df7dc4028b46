"""The owners' report page's tables (migration 0015): reports, their photos, and the points ledger.

A report's ``id`` is its status page's secret (random, unguessable); its ticket is ``ticket_id``. Phone
numbers are never stored in the clear here: ``phone_hash`` is an HMAC with the site's secret (the key of a
points balance) and ``phone_masked`` (138****5678) is what anyone but the ticket shows. A device is
``device_key``, an HMAC of its cookie (else its address), kept only to rate-limit it. ``notify_url`` is
where the reporter asked to hear of progress (the settings' ``updates_url`` with their number): kept only
while the ticket is open, forgotten once the final message is queued (``alerts.notify.reporters``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()
TS = DateTime(timezone=True)

owner_reports = Table(
    "owner_reports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("building", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("asset", String(64), nullable=True),
    Column("unit", String(64), nullable=True),
    Column("location", String(200), nullable=True),
    Column("text", Text, nullable=False),
    Column("ticket_id", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("device_key", String(64), nullable=False),
    Column("phone_hash", String(64), nullable=True),
    Column("phone_masked", String(32), nullable=True),
    Column("location_consent", Boolean, nullable=False),
    Column("duplicate_of", String(40), nullable=True),
    Column("confirmed_at", TS, nullable=True),
    Column("confirmed_by", String(64), nullable=True),
    Column("valid", Boolean, nullable=True),
    Column("notify_url", Text, nullable=True),
    Column("told_state", String(16), nullable=True),
)
Index("ix_owner_reports_same", owner_reports.c.site, owner_reports.c.building, owner_reports.c.category)
Index("ix_owner_reports_device", owner_reports.c.device_key, owner_reports.c.created_at)
Index("ix_owner_reports_phone", owner_reports.c.phone_hash, owner_reports.c.created_at)
Index("ix_owner_reports_ticket", owner_reports.c.ticket_id)

owner_photos = Table(
    "owner_photos",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("report_id", String(40), nullable=True),
    Column("position", Integer, nullable=True),
    Column("device_key", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("file", String(100), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("location_kept", Boolean, nullable=False),
)
Index("ix_owner_photos_device", owner_photos.c.device_key, owner_photos.c.created_at)
Index("ix_owner_photos_report", owner_photos.c.report_id)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site", String(64), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("label", String(32), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("reason", String(300), nullable=False),
    Column("report_id", String(40), nullable=True, unique=True),
    Column("actor", String(64), nullable=False),
    Column("at", TS, nullable=False),
)
Index("ix_points_ledger_holder", points_ledger.c.site, points_ledger.c.holder)
