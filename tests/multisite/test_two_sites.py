"""Two sites in one ``facwatch run`` process (real Mosquitto; SQLite and PostgreSQL): an entrapment in site B
raises exactly one RED for B and none for A; the lists filter by site; a token limited to A gets 404 on B's
ticket and its event stream carries A's events but no B event."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from api.auth import TokenStore
from tests.fixtures.facwatch_process import CHECKOUT as WORKTREE
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres import state_engine
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until
from tests.multisite.sites import ELEVATOR, write_site
from tests.reliability.eventlog_harness import ADMIN, Elevator, EventStream, Facwatch


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def _facwatch(tmp_path: Path, broker_url: str, state: Engine) -> Facwatch:
    """The event-log harness's process, its settings naming two site files instead of the demo site."""
    folder = tmp_path / "sites"
    folder.mkdir()
    a, b = write_site(folder, "a"), write_site(folder, "b")
    proc = Facwatch(
        tmp_path / "run",
        broker_url,
        state.url.render_as_string(hide_password=False),
        "gateway,alerts,api",
        api_port=free_port(),
    )
    text = proc.config.read_text(encoding="utf-8").replace('site = "demo"\n', f'sites = ["{a}", "{b}"]\n')
    proc.config.write_text(text, encoding="utf-8")
    return proc


def _token(config: Path, *args: str) -> str:
    """``facwatch token create`` of this worktree's command line."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    cmd = [sys.executable, "-m", "facwatch.cli", "token", "--config", str(config), "create", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=WORKTREE, timeout=60, check=True)
    return done.stdout.strip()


def _get(api: str, path: str, token: str = ADMIN, **params: Any) -> httpx.Response:
    return httpx.get(f"{api}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _reds(api: str, site: str) -> list[dict[str, Any]]:
    answer = _get(api, "/alerts", site=site, level="red")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_an_entrapment_in_site_b_is_b_s_alone(
    mosquitto: MosquittoBroker, state: Engine, tmp_path: Path
) -> None:
    TokenStore(state).register("multisite-admin", ["admin"], ADMIN)
    proc = _facwatch(tmp_path, mosquitto.url, state)
    elevators = [Elevator(mosquitto.port, site="a"), Elevator(mosquitto.port, site="b")]
    stream: EventStream | None = None
    try:
        proc.start()
        only_a = _token(proc.config, "site-a-desk", "--scope", "engineer", "--site", "a")
        sites = _get(proc.api, "/sites", only_a).json()["items"]
        assert [s["id"] for s in sites] == ["a"]
        assert {s["id"] for s in _get(proc.api, "/sites").json()["items"]} == {"a", "b"}
        stream = EventStream(proc.api)  # the admin's stream: every site
        limited = EventStream(proc.api, token=only_a)

        elevators[1].stuck = True  # site B's car stops between floors with someone inside
        wait_until(lambda: len(_reds(proc.api, "b")) >= 1, 90, "site B's entrapment raised")
        red = _reds(proc.api, "b")
        assert len(red) == 1, red
        assert (red[0]["site"], red[0]["asset"], red[0]["kind"]) == ("b", ELEVATOR, "elevator.entrapment")
        ticket_b = red[0]["ticket_id"]

        # A's readings from after B's alert opened were judged (stored: the gateway judges before it stores).
        opened = datetime.fromisoformat(red[0]["opened_at"])

        def a_judged_since() -> bool:
            latest = _get(proc.api, f"/assets/{ELEVATOR}", site="a").json()["latest"]
            return "speed_mps" in latest and datetime.fromisoformat(latest["speed_mps"]["ts"]) > opened

        wait_until(a_judged_since, 30, "site A's readings after B's alert opened")
        assert _reds(proc.api, "a") == []
        everything = _get(proc.api, "/alerts", level="red").json()["items"]
        assert [(x["site"], x["kind"]) for x in everything] == [("b", "elevator.entrapment")]

        # The lists filter by site; a token limited to A sees A's objects only.
        tickets_b = _get(proc.api, "/tickets", site="b").json()["items"]
        assert ticket_b in {t["id"] for t in tickets_b}
        assert ticket_b not in {t["id"] for t in _get(proc.api, "/tickets", site="a").json()["items"]}
        assert _get(proc.api, f"/tickets/{ticket_b}").status_code == 200
        assert _get(proc.api, f"/tickets/{ticket_b}", only_a).status_code == 404
        assert _get(proc.api, f"/alerts/{red[0]['id']}", only_a).status_code == 404
        assert _get(proc.api, "/tickets", only_a, site="b").status_code == 404
        assert all(t["site"] == "a" for t in _get(proc.api, "/tickets", only_a).json()["items"])
        acted = httpx.post(
            f"{proc.api}/api/v1/tickets/{ticket_b}/actions",
            json={"action": "acknowledge"},
            headers={"Authorization": f"Bearer {only_a}"},
        )
        assert acted.status_code == 404, acted.text
        assert _get(proc.api, f"/assets/{ELEVATOR}", only_a, site="b").status_code == 404

        # An owner's report in site A, after B's alert: the limited stream gets it, and nothing of B before.
        report = httpx.post(
            f"{proc.api}/api/v1/tickets",
            json={"site": "a", "building": "b1", "category": "elevator", "text": "电梯异响 the lift rattles"},
            headers={"Authorization": f"Bearer {only_a}"},
        )
        assert report.status_code == 201, report.text
        ticket_a = report.json()["id"]
        wait_until(lambda: limited.saw("ticket", ticket_a), 30, "site A's ticket on A's stream")
        wait_until(lambda: any(e.data.get("id") == ticket_a for e in stream.events), 30, "and on the admin's")
        assert any(e.data.get("site") == "b" for e in stream.events)  # the admin's stream carries B's
        assert limited.sites() == {"a"}, limited.sites()
        # Resuming from the start of the log (Last-Event-ID: 0): A's events again, still none of B's.
        resumed = EventStream(proc.api, last_event_id=0, token=only_a)
        wait_until(lambda: resumed.saw("ticket", ticket_a), 30, "site A's ticket on the resumed stream")
        assert resumed.sites() == {"a"}, resumed.sites()
        resumed.close()
        # Writes went to each object's own site.
        acknowledged = httpx.post(
            f"{proc.api}/api/v1/tickets/{ticket_b}/actions",
            json={"action": "acknowledge"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["site"] == "b"
        limited.close()
    finally:
        if stream is not None:
            stream.close()
        for elevator in elevators:
            elevator.close()
        proc.stop()
