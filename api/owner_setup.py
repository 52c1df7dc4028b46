"""The owners' report desk from the settings (``[owner_reports]``): None while no secret is set."""

from __future__ import annotations

from sqlalchemy import Engine

from alerts.engine.owner_desk import DeskLimits, OwnerDesk
from alerts.engine.ports import AlertsApi
from facwatch.config import Settings
from facwatch.model import Site


def make_desk(settings: Settings, site: Site, alerts: AlertsApi, engine: Engine) -> OwnerDesk | None:
    config = settings.owner_reports
    if not config.secret:
        return None
    limits = DeskLimits(
        window_s=config.window_s,
        device_reports=config.device_reports,
        phone_reports=config.phone_reports,
        device_photos=config.device_photos,
        photo_max_bytes=config.photo_max_bytes,
        photo_max_pixels=config.photo_max_pixels,
        photo_max_side=config.photo_max_side,
        points_per_report=config.points_per_report,
    )
    photo_dir = config.photo_dir or settings.data_dir / "owner-photos"
    return OwnerDesk(engine, site, alerts, config.secret, photo_dir, limits)
