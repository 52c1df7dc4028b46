"""The engine's two locks never wait for each other: the SLA clocks' tick takes them one at a time, and only
the checkpoint's snapshot (``under_lock``, every few seconds in a worker) holds both, the state lock first.
Crossed (the tick held the state lock and then took the judging lock for the arrival signs, the snapshot the
other way round) they deadlocked: the site's engine froze for good (no RED ever opened again, the gateway
stopped judging, a SIGTERM or a handover of the site hung on its stop), with no error logged and a
transaction left idle on the state database. Three helpers found it at once, from a frozen demo, the
simulator month and a stuck worker. Real engine, on SQLite and PostgreSQL: the tick and the snapshot run
flat out while a passenger is trapped, and the RED must still reach the API within seconds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.engine.service import AlertService
from api.main import create_app
from facwatch.config import load_site
from facwatch.model import Reading, ms_from_utc
from tests.alerts.helpers import DATABASES
from tests.api.fakes import T0
from tests.fixtures.engine_api import EngineApi, engine_api
from tests.fixtures.postgres import state_engine as state_engine_on
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineApi]:
    for engine in state_engine_on(request, tmp_path):
        yield engine_api(engine, load_site("demo", variables={"data_dir": str(tmp_path)}), T0)


def _flat_out(stop: threading.Event, work: object) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            work()  # type: ignore[operator]

    thread = threading.Thread(target=loop, daemon=True)  # daemon: a deadlocked one must not hang the run
    thread.start()
    return thread


def test_a_red_opens_while_the_clocks_tick_and_the_checkpoint_snapshots(api: EngineApi) -> None:
    service: AlertService = api.alerts
    stop = threading.Event()
    ticks = [0]

    def tick() -> None:
        service.tick(T0)
        ticks[0] += 1

    threads = [_flat_out(stop, tick), _flat_out(stop, lambda: service.under_lock(lambda: None))]
    try:
        wait_until(  # on the old code the clocks froze here: the engine's locks deadlocked
            lambda: ticks[0] >= 200,
            30,
            "200 ticks of the SLA clocks (escalations) beside the checkpoint's snapshots",
        )
        at = ms_from_utc(T0 + timedelta(seconds=1))
        values = {"in_door_zone": 0.0, "speed_mps": 0.0, "running": 0.0, "alarm_button": 1.0, "load_kg": 80.0}
        trapped = [Reading("lakeside", "b1-elev-1", ch, at, v) for ch, v in values.items()]
        judged = threading.Thread(target=service.observe, args=(trapped,), daemon=True)
        judged.start()
        with TestClient(create_app(api.services, webhooks_worker=False)) as client:
            token = api.tokens.create("li.engineer", ["engineer"])
            headers = {"Authorization": f"Bearer {token}"}

            def red() -> bool:
                answer = client.get("/api/v1/alerts", params={"level": "red"}, headers=headers, timeout=5)
                return any(a["kind"] == "elevator.entrapment" for a in answer.json()["items"])

            wait_until(red, 20, "the entrapment's RED in the API while clocks and snapshots run")
    finally:
        stop.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive(), "the tick or the snapshot is stuck: the engine's locks deadlocked"
