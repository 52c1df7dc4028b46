"""The demo pipeline end to end: simulator → broker → gateway → store → alerts → tickets → apprise → API.

Two ways in: the composition root in-process with a short scenario (one run per real broker), and the
user's own command, ``facwatch demo``, as a subprocess.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import STANDARD_CHANNELS, Site, ms_from_utc
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario
from tests.fixtures.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ENTRAPPED = "b1-elev-1"
SCENARIO = """
[[faults]]
asset = "b1-elev-1"
kind = "entrapment"
at_s = 6
"""


def _site_notifying(url: str, data_dir: Path) -> Site:
    site = load_site("demo", variables={"data_dir": str(data_dir)})
    people = tuple(dataclasses.replace(p, notify=(url,)) for p in site.people)
    owners = tuple(dataclasses.replace(o, notify=(url,)) for o in site.owners)
    return dataclasses.replace(site, people=people, owners=owners)


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _red_entrapment(client: httpx.Client) -> dict[str, Any] | None:
    items = client.get("/api/v1/alerts", params={"limit": 50}).json()["items"]
    for alert in items:
        if alert["asset"] == ENTRAPPED and alert["level"] == "red" and alert["kind"] == "elevator.entrapment":
            return dict(alert)
    return None


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "amqtt":
        return "embedded"
    return str(request.getfixturevalue("mosquitto").url)


@pytest.fixture
def running(tmp_path: Path, broker_url: str, http_receiver: Any) -> Iterator[tuple[System, float]]:
    settings = load_settings(data_dir=tmp_path, api={"port": free_port()})
    site = _site_notifying(http_receiver.url, tmp_path)
    scenario_file = tmp_path / "scenario.toml"
    scenario_file.write_text(SCENARIO)
    if broker_url != "embedded":
        settings.mqtt.url = broker_url
    system = build(settings, site)
    system.start(embedded_broker=broker_url == "embedded")
    stop = threading.Event()
    started = time.time()
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
        yield system, started
    finally:
        stop.set()
        sim.join(timeout=10)
        system.stop()


def test_entrapment_raises_red_alert_ticket_notification_and_readings(
    running: tuple[System, float], http_receiver: Any
) -> None:
    system, started = running
    token = system.tokens.create("e2e", ["admin"])
    with httpx.Client(
        base_url=system.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        # A RED alert for the entrapped car, within 10 s of the fault (6 s in) — allow for start-up.
        alert = _wait(lambda: _red_entrapment(client), 30, "a RED entrapment alert")
        opened_at = datetime.fromisoformat(alert["opened_at"])
        fault_at = datetime.fromtimestamp(started + 6, UTC)
        assert opened_at - fault_at < timedelta(seconds=10), (opened_at, fault_at)
        assert alert["state"] == "firing"
        assert alert["site"] == system.site.id

        # Its ticket, with the on-site clock 3 minutes after the alert.
        assert alert["ticket_id"]
        ticket = client.get(f"/api/v1/tickets/{alert['ticket_id']}").json()
        assert alert["id"] in ticket["alert_ids"]
        assert ticket["level"] == "red"
        on_site = datetime.fromisoformat(ticket["deadlines"]["on_site"])
        assert on_site - opened_at == timedelta(minutes=3)
        assert ticket["timeline"], "a ticket records how it was opened"

        # Apprise delivered it to a real HTTP receiver: the on-call engineer and the building's owners.
        received = http_receiver.wait_for(2, timeout=20)
        text = " ".join(str(m) for m in received)
        assert "b1-elev-1" in text or "1号楼" in text

        # Readings of every demo asset for the last minute.
        end = datetime.now(UTC)
        start = end - timedelta(minutes=1)
        for asset in system.site.assets:
            channel = next(iter(STANDARD_CHANNELS[asset.kind]))
            points = client.get(
                f"/api/v1/assets/{asset.id}/readings",
                params={"channel": channel, "start": start.isoformat(), "end": end.isoformat()},
            ).json()["points"]
            assert len(points) >= 3, f"{asset.id}.{channel}: {len(points)} points in the last minute"

        # Without a token, nothing but health.
        assert httpx.get(f"{system.api_url}/api/v1/alerts").status_code == 401
        assert httpx.get(f"{system.api_url}/healthz").status_code == 200


def test_facwatch_demo_command(tmp_path: Path) -> None:
    """The README's first command, as a user runs it (shortened with --duration)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "facwatch.cli", "demo", "--duration", "55", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    try:
        demo_json = tmp_path / "demo.json"
        _wait(demo_json.exists, 30, "demo.json")
        info = orjson.loads(demo_json.read_bytes())
        assert info["url"] == f"http://127.0.0.1:{port}/"
        # The owners' report page is on, with a secret made for this data directory and kept private.
        assert (tmp_path / "owner-reports.secret").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "qr" / "b1.png").read_bytes().startswith(b"\x89PNG")
        assert httpx.get(f"{info['url']}report.html", timeout=5).status_code == 200
        board = httpx.get(info["url"], timeout=5)
        assert board.status_code == 200 and "<html" in board.text.lower()
        with httpx.Client(
            base_url=info["url"], headers={"Authorization": f"Bearer {info['token']}"}, timeout=5
        ) as client:
            alert = _wait(lambda: _red_entrapment(client), 50, "the scripted entrapment's RED alert")
            assert alert["ticket_id"]
            # The owners hear of it at once; then the engineer is dispatched and checks in. Resolving while
            # the car is still stuck is refused, so the owners get no all-clear before the sensors agree.
            _wait(lambda: _owners_said(tmp_path, "有人被困"), 20, "the owners' opening message")
            actions = f"/api/v1/tickets/{alert['ticket_id']}/actions"
            assert client.post(actions, json={"action": "resolve"}).status_code == 409
            dispatch = {"action": "dispatch", "assignee": "eng-wang"}
            assert client.post(actions, json=dispatch).status_code == 200
            check_in = {"action": "check_in", "checkin_code": "QJ9N-39Y3"}
            assert client.post(actions, json=check_in).status_code == 200
            _wait(lambda: _owners_said(tmp_path, "救援工程师已在路上"), 20, "the owners told of the dispatch")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert info["token"] in text and info["url"] in text
    assert f"report: {info['url']}report.html#t=v1.lakeside.b1." in text  # the QR codes' links, printed
    # Stopped cleanly: the SQLite files are consistent, the notifications are in the data directory.
    for db in ("state.db", "telemetry.db"):
        with sqlite3.connect(tmp_path / db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    lines = (tmp_path / "notifications.jsonl").read_text(encoding="utf-8").splitlines()
    assert any("b1-elev-1" in line or "1号楼" in line for line in lines)
    # The owners' conversation, in order and true: who speaks and their number in every message, the
    # reassurance first, "on the way" only after the dispatch, no all-clear while the car is stuck.
    owners = [f"{m['title']}\n{m['body']}" for m in _owner_lines(tmp_path)]
    opening = next(i for i, m in enumerate(owners) if "有人被困" in m)
    on_the_way = next(i for i, m in enumerate(owners) if "救援工程师已在路上" in m)
    assert opening < on_the_way
    assert "请保持冷静，不要扒门" in owners[opening] and "轿厢内有通风装置和紧急呼叫按钮" in owners[opening]
    assert "已接单、已派单" in owners[on_the_way]
    for message in owners[:on_the_way]:
        assert "在路上" not in message and "on the way" not in message and "已派单" not in message
    for message in owners:
        assert "翠湖花园物业服务中心" in message and "0571-8888 6666" in message
        assert "已恢复" not in message and "已救出" not in message and "is back" not in message
        assert "请理解" not in message and "谅解" not in message
    arrived = [
        i for i, m in enumerate(owners) if "救援工程师已到场" in m
    ]  # held for the digest in quiet hours
    assert all(i > on_the_way for i in arrived)


def _owner_lines(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "notifications.jsonl"
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(orjson.loads(line))
        except orjson.JSONDecodeError:  # the demo is writing this line right now
            continue
    return [m for m in lines if m.get("audience") == "owners"]


def _owners_said(data_dir: Path, words: str) -> bool:
    return any(words in f"{m['title']}\n{m['body']}" for m in _owner_lines(data_dir))
