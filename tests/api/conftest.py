"""Fixtures of the API tests: the app over fakes of the alert engine and telemetry, real tokens in SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alerts.engine.events import EventBus
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from api.targets import TargetPolicy
from facwatch.clock import ManualClock
from facwatch.config import load_site
from facwatch.model import Site
from facwatch.state import migrate, open_engine
from tests.api.fakes import T0, FakeAlerts, FakeDeadLetters, FakeTelemetry

LOCAL_TARGETS = TargetPolicy(allow_http=True, allow=("127.0.0.1/32",))
"""The tests' receivers listen on loopback over http: allowed here as an operator would allow theirs."""


@dataclass
class World:
    """Everything a route test touches: the app, its fakes, and one token per scope."""

    app: FastAPI
    client: TestClient
    site: Site
    alerts: FakeAlerts
    telemetry: FakeTelemetry
    dead_letters: FakeDeadLetters
    tokens: TokenStore
    engine: Engine
    bus: EventBus
    clock: ManualClock
    token: dict[str, str]

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token[scope]}"}


@pytest.fixture
def state_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def world(state_engine: Engine, tmp_path: Path) -> Iterator[World]:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    clock = ManualClock(T0)
    tokens = TokenStore(state_engine, clock)
    bus = EventBus()
    alerts, telemetry, dead_letters = FakeAlerts(site), FakeTelemetry(), FakeDeadLetters()
    services = ApiServices(
        site=site,
        alerts=alerts,
        telemetry=telemetry,
        dead_letters=dead_letters,
        tokens=tokens,
        bus=bus,
        clock=clock,
    )
    app = create_app(services, webhook_targets=LOCAL_TARGETS)
    token = {
        scope: tokens.create(f"{scope}-user", [scope])
        for scope in ("viewer", "engineer", "manager", "integration", "admin")
    }
    with TestClient(app) as client:
        yield World(
            app, client, site, alerts, telemetry, dead_letters, tokens, state_engine, bus, clock, token
        )
    bus.close()
