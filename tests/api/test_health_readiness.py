"""``/readyz`` logic with stand-in probes: the verdict, the deadline, the cache, one run per hung probe.

The real parts (Mosquitto, VictoriaMetrics, PostgreSQL) are broken on purpose in test_health_parts.py.
"""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from api.readiness import Check, Readiness, judge, lag_probe
from tests.api.conftest import World


def test_ready_only_when_every_part_works() -> None:
    assert judge({"broker": None, "state_db": None}).ready
    verdict = judge({"broker": "not connected", "state_db": None})
    assert not verdict.ready and verdict.failing == {"broker": "not connected"}
    assert verdict.checked == ("broker", "state_db")


def test_the_engine_lag_limit() -> None:
    assert lag_probe(lambda: None, 10)() is None  # not measured: not a failure
    assert lag_probe(lambda: 10.0, 10)() is None
    assert "12.5 s behind" in (lag_probe(lambda: 12.5, 10)() or "")


def test_a_hung_probe_fails_by_the_deadline_and_is_not_started_twice() -> None:
    release, calls = threading.Event(), []

    def hangs() -> str | None:
        calls.append(1)
        release.wait(30)
        return None

    readiness = Readiness([Check("state_db", hangs), Check("broker", lambda: None)], timeout_s=0.3, cache_s=0)
    try:
        started = time.monotonic()
        verdict = readiness.verdict()
        assert time.monotonic() - started < 2  # the answer does not wait for the hung part
        assert verdict.failing == {"state_db": "no answer within 0.3 s"}
        assert not readiness.verdict().ready
        assert len(calls) == 1  # the second verdict waited on the same run instead of starting another
    finally:
        release.set()
    # Once the hung run returns, the part is back.
    deadline = time.monotonic() + 5
    while not readiness.verdict().ready:
        assert time.monotonic() < deadline


def test_a_raising_probe_names_its_error() -> None:
    def broken() -> str | None:
        raise OSError("disk gone")

    assert Readiness([Check("telemetry", broken)]).verdict().failing == {"telemetry": "OSError: disk gone"}


def test_verdicts_are_cached_so_a_scrape_storm_probes_once() -> None:
    calls: list[int] = []

    def probe() -> str | None:
        calls.append(1)
        return None

    readiness = Readiness([Check("state_db", probe)], cache_s=60)
    for _ in range(50):
        assert readiness.verdict().ready
    assert len(calls) == 1


def test_healthz_and_readyz_are_open(world: World) -> None:
    client: TestClient = world.client
    assert client.get("/healthz").json()["status"] == "ok"
    answer = client.get("/readyz")  # no token: open, like /healthz
    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "failing": {}, "checked": ["state_db"]}


def test_a_scrape_storm_over_http_probes_once_and_names_the_hung_part(world: World) -> None:
    release, calls = threading.Event(), []

    def hangs() -> str | None:
        calls.append(1)
        release.wait(30)
        return None

    world.app.state.readiness = Readiness([Check("state_db", hangs)], timeout_s=0.5, cache_s=60)
    answers: list[tuple[int, dict[str, object]]] = []

    def scrape() -> None:
        answer = world.client.get("/readyz")
        answers.append((answer.status_code, answer.json()))

    try:
        started = time.monotonic()
        scrapers = [threading.Thread(target=scrape) for _ in range(40)]
        for thread in scrapers:
            thread.start()
        for thread in scrapers:
            thread.join(10)
        assert time.monotonic() - started < 5  # nobody waited on the hung database
        assert len(calls) == 1  # forty scrapes, one probe
        assert {status for status, _ in answers} == {503} and len(answers) == 40
        assert answers[0][1]["failing"] == {"state_db": "no answer within 0.5 s"}
        assert world.client.get("/healthz").status_code == 200  # alive all along
    finally:
        release.set()
