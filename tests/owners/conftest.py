"""The owners' report desk over the real alert engine, on a migrated state database (SQLite or PostgreSQL),
its API in-process with a manual clock (event time), and helpers that make photos the way phones do."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from alerts.engine.owner_desk import OwnerDesk
from alerts.engine.owner_values import DeskLimits
from alerts.engine.service import AlertService
from api.main import create_app
from facwatch.clock import ManualClock
from facwatch.config import load_site, parse_site
from facwatch.model import Site
from facwatch.owner_setup import PhotoDirectory
from tests.alerts.helpers import DATABASES
from tests.fixtures.engine_api import engine_api
from tests.fixtures.postgres import state_engine as state_engine_on

SECRET = "test-secret-for-owner-reports-0123456789"
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
GPS_IFD = 0x8825


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    """A phone's photo: a JPEG whose EXIF holds the camera's model and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "FacwatchPhone"  # Make
    exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 9.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def gps_of(data: bytes) -> dict[int, Any]:
    return dict(Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD))


@dataclass
class Owners:
    client: TestClient
    desk: OwnerDesk
    service: AlertService
    clock: ManualClock
    site: Site
    staff: dict[str, str]
    photo_dir: Path

    def token(self, building: str = "b1", days: float = 30) -> str:
        return self.desk.sign(building, self.clock.now() + timedelta(days=days))

    def open_page(self, token: str | None = None) -> Any:
        """What the page does first: check its token (and get the device's cookie)."""
        return self.client.get("/api/v1/report/building", headers={"X-Building-Token": token or self.token()})

    def report(self, token: str | None = None, **fields: Any) -> Any:
        body = {"category": "leak", "text": "车库顶棚漏水 water from the garage ceiling", **fields}
        headers = {"X-Building-Token": token or self.token()}
        return self.client.post("/api/v1/report", json=body, headers=headers)

    def photo(self, data: bytes, token: str | None = None, location: bool = False) -> Any:
        headers = {"X-Building-Token": token or self.token(), "Content-Type": "image/jpeg"}
        params = {"location": "true" if location else "false"}
        return self.client.post("/api/v1/report/photos", content=data, headers=headers, params=params)


def leak_site(tmp_path: Path, table: str = "") -> Site:
    """The demo compound, with an ``[owner_sla]`` section appended when given."""
    if not table:
        return load_site("demo", variables={"data_dir": str(tmp_path)})
    import tomllib

    from facwatch.config import demo_site_text

    data = tomllib.loads(demo_site_text() + "\n" + table)
    return parse_site(data, "demo.toml", {"data_dir": str(tmp_path)})


def owners_over(
    engine: Engine,
    tmp_path: Path,
    site: Site,
    limits: DeskLimits | None = None,
    updates_url: str | None = None,
) -> Iterator[Owners]:
    api = engine_api(engine, site, T0)
    services, service, tokens, clock, bus = api.services, api.alerts, api.tokens, api.clock, api.bus
    photo_dir = tmp_path / "owner-photos"
    desk = OwnerDesk(
        engine, site, service, SECRET, PhotoDirectory(photo_dir), limits or DeskLimits(), updates_url
    )
    app = create_app(services, webhooks_worker=False, owner_desk=desk)
    staff = {
        "engineer": tokens.create("li.engineer", ["engineer"]),
        "viewer": tokens.create("desk.viewer", ["viewer"]),
        "manager": tokens.create("zhao.manager", ["manager"]),
    }
    with TestClient(app) as client:
        owners = Owners(client, desk, service, clock, site, staff, photo_dir)
        assert owners.open_page().status_code == 200
        yield owners
    bus.close()


@pytest.fixture
def owners(tmp_path: Path) -> Iterator[Owners]:
    from facwatch.state import migrate, open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield from owners_over(engine, tmp_path, leak_site(tmp_path))
    engine.dispose()


@pytest.fixture(params=DATABASES)
def any_owners(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Owners]:
    for engine in state_engine_on(request, tmp_path):
        yield from owners_over(engine, tmp_path, leak_site(tmp_path))
