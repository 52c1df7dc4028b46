"""The owners' report desk from the settings (``[owner_reports]``: None while no secret is set), and the QR
codes of its buildings (``facwatch qr``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from alerts.engine.owner_desk import OwnerDesk
from alerts.engine.owner_identity import sign_building
from alerts.engine.owner_values import DeskLimits
from alerts.engine.ports import AlertsApi
from facwatch.config import Settings
from facwatch.files import write_private
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
    photos = PhotoDirectory(config.photo_dir or settings.data_dir / "owner-photos")
    return OwnerDesk(engine, site, alerts, config.secret, photos, limits, config.updates_url)


class PhotoDirectory:
    """The owners' photos as files in one directory (0700), each written 0600 (``alerts.engine.ports.PhotoFiles``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.path / name, data)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        (self.path / name).unlink(missing_ok=True)


def report_link(base_url: str, token: str) -> str:
    """The report page's address for a building token (in the fragment: it never reaches a server's log)."""
    return f"{base_url.rstrip('/')}/report.html#t={token}"


def write_qr_codes(
    site: Site, secret: str, base_url: str, out: Path, expires: datetime
) -> list[tuple[str, Path, str]]:
    """One PNG per building (``out/<building>.png``); returns (building, file, link) per building."""
    import segno

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for building in site.buildings:
        link = report_link(base_url, sign_building(secret, site.id, building.id, expires))
        path = out / f"{building.id}.png"
        segno.make_qr(link, error="m").save(str(path), kind="png", scale=8, border=4)
        written.append((building.id, path, link))
    return written
