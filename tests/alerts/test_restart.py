"""Restarts: clocks and alert state live in the state database. A process killed with open clocks and
started again re-fires nothing that was already notified, and a clock that ran out while it was down
escalates as soon as it is back — counted in the outbox, nothing twice and nothing missed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts.engine.db import notifications
from alerts.engine.ports import OwnerReport
from facwatch.config import load_site
from facwatch.model import TicketAction
from tests.alerts.helpers import DATABASES, HOLD, STUCK, Harness, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def outbox(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [k for (k,) in conn.execute(select(notifications.c.key).order_by(notifications.c.id))]


def test_clocks_that_ran_out_while_down_escalate_once_when_back(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    h = Harness(engine, demo_site(http_receiver), words=False)
    h.feed(STUCK, 0, 6)  # RED entrapment on b1-elev-1: acknowledge due at +60 s, on site at +180 s
    h.feed(STUCK, 0, 6, asset="b2-elev-1")
    (b2,) = h.service.list_alerts(asset="b2-elev-1").items
    assert b2.ticket_id
    h.act(b2.ticket_id, TicketAction.ACKNOWLEDGE, 30, actor="eng-wang")  # b2's acknowledge clock stops
    report = OwnerReport("lakeside", "b1", "water", "no water on 12", "owner-1203")
    h.service.open_owner_ticket(report, h.at(10))  # acknowledge due at +610 s
    before = outbox(engine)
    assert len(before) == 3  # the engineer told of each ticket
    h.restart()  # the process was down from here ...
    h.service.tick(h.at(3600))  # ... for an hour: every clock that ran out fires, once each
    after = outbox(engine)[len(before) :]
    assert sorted(k.split(":")[0] + ":" + k.split(":")[2] for k in after) == [
        "T-000001:on_site",  # b1's entrapment: both its clocks ran out, one escalation for the worse
        "T-000002:on_site",  # b2's: acknowledged, but nobody arrived
        "T-000003:acknowledge",  # the owner's report: nobody acknowledged
    ]
    h.restart()
    h.service.tick(h.at(3600))  # the same moment again after another restart: nothing new
    h.service.tick(h.at(3601))
    assert len(outbox(engine)) == len(before) + 3
    h.service.tick(h.at(3660))  # a full repeat interval later: the reminders, once each
    assert len(outbox(engine)) == len(before) + 6


SCRIPT = textwrap.dedent(
    """
    import sys
    from alerts.engine.events import EventBus
    from alerts.engine.service import AlertService
    from facwatch.config import SlaSettings, load_site
    from facwatch.state import open_engine
    from facwatch.model import utc_from_ms
    from tests.alerts.helpers import STUCK, RecordingNotifier, seconds

    site = load_site("demo", variables={"data_dir": sys.argv[2]})
    engine = open_engine(sys.argv[1])
    service = AlertService(engine, site, SlaSettings(), EventBus(), RecordingNotifier(site, [], False))
    for i, readings in enumerate(seconds(STUCK, 0, 100_000)):
        service.observe(readings)
        service.tick(utc_from_ms(readings[0].ts_ms))
        print(i, flush=True)
    """
)


def test_a_killed_process_replayed_from_the_broker_notifies_nothing_twice(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # the process has lived 30 simulated seconds: alert and ticket are open
            if int(line) >= 30 or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = outbox(engine)
    assert [k.split(":")[1] for k in before] == ["A-000001"]  # the engineer was told, once
    # Started again: the broker redelivers what was not acknowledged (the same readings), then time goes on.
    h = Harness(engine, load_site("demo", variables={"data_dir": str(tmp_path)}), words=False)
    h.feed(STUCK, 0, 40)
    assert outbox(engine) == before  # nothing twice
    h.service.tick(h.at(HOLD + 60))
    keys = outbox(engine)
    assert len(keys) == 2 and ":escalate:acknowledge:" in keys[1]  # nothing missed
    (alert,) = h.service.list_alerts().items
    assert alert.count == 1 and alert.ticket_id == "T-000001"
    h.act("T-000001", TicketAction.ACKNOWLEDGE, HOLD + 70, actor="eng-wang")
    assert h.service.get_ticket("T-000001").acknowledged_at == h.at(HOLD + 70)
