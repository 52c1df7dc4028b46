"""The board's fixtures: the whole system in-process (embedded broker, simulator with a scripted entrapment,
gateway, engine, API) and headless Chromium from Debian driven by Playwright."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import Site, ms_from_utc
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario
from tests.fixtures.servers import find_server, free_port

ENTRAPPED = "b1-elev-1"
FAULT_AT_S = 20
"""Late enough that the board is open, showing no alert, before the car gets stuck."""
SCENARIO = f"""
[[faults]]
asset = "{ENTRAPPED}"
kind = "entrapment"
at_s = {FAULT_AT_S}
"""


@dataclass
class Live:
    system: System
    site: Site
    token: str

    @property
    def board_url(self) -> str:
        return f"{self.system.api_url}/#token={self.token}"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    settings = load_settings(data_dir=tmp_path, api={"port": free_port()})
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    scenario_file = tmp_path / "scenario.toml"
    scenario_file.write_text(SCENARIO)
    system = build(settings, site)
    system.start(embedded_broker=True)
    stop = threading.Event()
    sim = threading.Thread(
        target=run_publisher,
        kwargs={
            "site": site,
            "scenario": load_scenario(str(scenario_file)),
            "broker_url": settings.mqtt.url,
            "speed": 1.0,
            "seed": 7,
            "stop": stop,
            "start_ms": ms_from_utc(datetime.now(UTC)),
        },
        daemon=True,
    )
    sim.start()
    try:
        yield Live(system, site, system.tokens.create("board-engineer", ["engineer"]))
    finally:
        stop.set()
        sim.join(timeout=10)
        system.stop()


@pytest.fixture
def chromium_path() -> str:
    return find_server("chromium", "/usr/bin/chromium")
