"""Words through the whole path (issue 18, part 5): an English-speaking engineer and a Chinese-speaking
fallback manager, a real entrapment through the engine, the outbox and apprise to a real HTTP receiver, on
SQLite and PostgreSQL. Each reads their own language only; no internal channel reaches either."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts.engine.db import notifications
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.check import problems_of
from alerts.notify.outbox import Dispatcher, OutboxNotifier, fallback_person
from facwatch.config import SlaSettings, load_site
from facwatch.model import Finding, Level, ms_from_utc
from tests.fixtures.postgres import state_engine
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.servers import free_port

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def test_an_english_engineer_and_a_chinese_fallback_each_read_their_own_language(
    engine: Engine, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    down = f"json://127.0.0.1:{free_port()}/"  # the engineers' phones are unreachable
    people = tuple(
        dataclasses.replace(p, lang="zh", notify=(http_receiver.url,))
        if p.id == site.fallback
        else dataclasses.replace(p, lang="en", notify=(down,))
        for p in site.people
    )
    owners = tuple(dataclasses.replace(o, notify=()) for o in site.owners)
    site = dataclasses.replace(site, people=people, owners=owners)
    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))
    dispatcher = Dispatcher(
        engine, site=site, fallback=fallback_person(site), on_findings=service.observe_findings
    )
    trapped = Finding(
        site.id, "b1-elev-1", "elevator.entrapment", ms_from_utc(NOW), True, Level.RED,
        "Passenger trapped: car stopped between floors with the alarm pressed", channel="load_kg",
        value=150.0, detail={"load_kg": 150.0, "speed_mps": 0.0, "local_hour": 16.0014},
    )  # fmt: skip
    service.observe_findings([trapped], NOW)

    with engine.connect() as conn:
        rows = conn.execute(
            select(notifications.c.title, notifications.c.body).where(notifications.c.audience == "engineer")
        ).all()
    assert rows, "the on-call engineer was told"
    for title, body in rows:  # what the English-speaking engineer reads
        text = f"{title}\n{body}"
        assert not CJK.search(text), text
        assert "RED alert: someone trapped in the elevator (load 150 kg)" in text
        assert "Readings: load 150 kg, speed 0 m/s" in text
        assert "local_hour" not in text and "16.00" not in text.split("Since")[0]

    dispatcher.deliver_pending(NOW)
    dispatcher.deliver_pending(NOW + timedelta(seconds=31))  # nobody got the RED within 30 s
    dispatcher.deliver_pending(NOW + timedelta(seconds=32))  # so it is passed to the fallback manager
    fallback = [m for m in http_receiver.wait_for(1) if m["title"].startswith("[未送达·转交]")]
    assert fallback, http_receiver.received
    message = f"{fallback[0]['title']}\n{fallback[0]['message']}"
    english = [p for p in problems_of(message, fallback[0]["title"], "zh", site) if "English" in p]
    assert english == [], message  # the manager reads Chinese only
    assert "电梯困人" in message and "local_hour" not in message
