"""What a user of the API sees with the InfluxDB store: history per minute and latest values from a real InfluxDB 1.6."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.engine.events import EventBus
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from facwatch.clock import WallClock
from facwatch.config import load_site
from facwatch.model import Reading
from facwatch.state import migrate, open_engine
from ingest.influx_store import InfluxStore
from tests.api.fakes import FakeAlerts, FakeDeadLetters
from tests.fixtures.influx import Influx

pytestmark = pytest.mark.integration
MIN = 60_000


@pytest.fixture
def api(influx: Influx, tmp_path: Path) -> Iterator[tuple[TestClient, InfluxStore, dict[str, str]]]:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    influx.query('CREATE DATABASE "facwatch"')
    store = InfluxStore(site, url=influx.url, database="facwatch")
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    tokens, bus = TokenStore(engine, WallClock()), EventBus()
    services = ApiServices(
        site=site,
        alerts=FakeAlerts(site),
        telemetry=store,
        dead_letters=FakeDeadLetters(),
        tokens=tokens,
        bus=bus,
        clock=WallClock(),
    )
    auth = {"Authorization": f"Bearer {tokens.create('viewer', ['viewer'])}"}
    with TestClient(create_app(services)) as client:
        yield client, store, auth
    bus.close()
    store.close()
    engine.dispose()


def test_history_per_minute_and_latest_values_through_the_api(
    api: tuple[TestClient, InfluxStore, dict[str, str]],
) -> None:
    client, store, auth = api
    site = store.site
    elev = next(a for a in site.assets if a.kind == "elevator")
    now = int(time.time() * 1000)
    t0 = now - now % MIN - 5 * MIN
    store.write([Reading(site.id, elev.id, "load_kg", t0 + i * 1000, float(i)) for i in range(120)])
    response = client.get(
        f"/api/v1/assets/{elev.id}/readings",
        params={
            "channel": "load_kg",
            "start": str(t0),
            "end": str(t0 + 2 * MIN),
            "every": "60s",
            "fn": "mean",
        },
        headers=auth,
    )
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert [p["value"] for p in points] == [29.5, 89.5]
    assert [int(datetime.fromisoformat(p["ts"]).timestamp() * 1000) for p in points] == [t0, t0 + MIN]
    asset = client.get(f"/api/v1/assets/{elev.id}", headers=auth)
    assert asset.status_code == 200, asset.text
    latest = asset.json()["latest"]["load_kg"]  # the newest value, with its own time
    assert latest["value"] == 119.0
    assert int(datetime.fromisoformat(latest["ts"]).timestamp() * 1000) == t0 + 119_000
