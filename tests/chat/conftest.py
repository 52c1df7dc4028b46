"""A desk for the owners' chat: the real alert engine on a migrated state database, served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from alerts.engine.service import AlertService
from api.main import create_app
from api.server import serve
from facwatch.clock import ManualClock
from facwatch.config import load_site
from facwatch.model import Site, ms_from_utc
from facwatch.state import migrate, open_engine
from tests.alerts.helpers import DATABASES
from tests.api.fakes import T0
from tests.fixtures.engine_api import engine_api
from tests.fixtures.postgres import state_engine as state_engine_on


@dataclass
class Desk:
    http: httpx.Client
    service: AlertService
    site: Site
    clock: ManualClock
    engine: Engine
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def say(self, group: str, msg_id: str, text: str, at: datetime) -> httpx.Response:
        """An owner's message, as a bridge posts it, sent when the clock says ``at``."""
        self.clock.set(at)
        body = {"site": "lakeside", "group": group, "msg_id": msg_id, "sender": "owner", "text": text}
        return self.http.post(
            "/api/v1/chat/messages", json={**body, "ts": ms_from_utc(at)}, headers=self.headers
        )

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/alerts", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def demo_site(tmp_path: Path) -> Site:
    return load_site("demo", variables={"data_dir": str(tmp_path)})


def _desk(engine: Engine, tmp_path: Path, site: Site | None = None) -> Iterator[Desk]:
    site = site or demo_site(tmp_path)
    api = engine_api(engine, site, T0)
    services, service, tokens, clock, bus = api.services, api.alerts, api.tokens, api.clock, api.bus
    handle = serve(create_app(services, webhooks_worker=False), "127.0.0.1", 0)
    try:
        # the first message builds the jieba tokenizer (about a second; far more on a loaded machine)
        with httpx.Client(base_url=handle.url, timeout=60) as http:
            yield Desk(http, service, site, clock, engine, tokens.create("wecom-bridge", ["integration"]))
    finally:
        handle.stop()
        bus.close()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    """On SQLite."""
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield from _desk(engine, tmp_path)
    engine.dispose()


@pytest.fixture(params=DATABASES)
def any_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """On SQLite and on PostgreSQL."""
    for engine in state_engine_on(request, tmp_path):
        yield from _desk(engine, tmp_path)
