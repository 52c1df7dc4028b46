"""An owner who reported through the page and asked to hear of progress gets a message at each step (through
the outbox, delivered by apprise to a real HTTP receiver standing in for an SMS gateway); someone who did
not ask gets none; after the ticket closes the number is forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.engine.owner_db import owner_reports
from alerts.notify.outbox import Dispatcher
from alerts.notify.reporters import tell_reporters
from facwatch.state import migrate, open_engine
from tests.fixtures.receivers import HttpReceiver
from tests.owners.conftest import T0, Owners, leak_site, owners_over

pytestmark = pytest.mark.integration


@pytest.fixture
def texting(tmp_path: Path, http_receiver: HttpReceiver) -> Iterator[Owners]:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    url = f"{http_receiver.url}sms/{{phone}}"
    yield from owners_over(engine, tmp_path, leak_site(tmp_path), updates_url=url)
    engine.dispose()


def _act(owners: Owners, ticket: str, action: str) -> None:
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    answer = owners.client.post(f"/api/v1/tickets/{ticket}/actions", json={"action": action}, headers=headers)
    assert answer.status_code == 200, answer.text


def _round(owners: Owners, at_s: float) -> None:
    """One delivery round as the notify loop runs it: reporters' messages queued, then delivered."""
    now = T0 + timedelta(seconds=at_s)
    tell_reporters(owners.desk.engine, owners.site, now, ("22:00", "07:00"))
    Dispatcher(owners.desk.engine).deliver_pending(now)


def test_a_reporter_who_asked_hears_each_step_and_then_is_forgotten(
    texting: Owners, http_receiver: HttpReceiver
) -> None:
    page = texting.open_page().json()
    assert page["updates"] is True
    told = texting.report(phone="13812345678", updates=True).json()
    texting.report(phone="13900001111", category="noise", text="楼上装修")  # did not ask: hears nothing
    _act(texting, told["ticket"], "acknowledge")
    _round(texting, 60)
    [first] = http_receiver.wait_for(1)
    assert http_receiver.paths[0] == "/sms/13812345678"
    assert told["ticket"] in first["message"] and "物业已收到您的报修" in first["message"]
    assert "the property desk has your report" in first["message"]

    _act(texting, told["ticket"], "resolve")
    _act(texting, told["ticket"], "close")
    _round(texting, 120)  # resolved and closed within one round: only the latest state is told
    messages = http_receiver.wait_for(2)
    assert "报修已办结" in messages[1]["message"]
    _round(texting, 180)
    assert len(http_receiver.received) == 2 and set(http_receiver.paths) == {"/sms/13812345678"}
    with texting.desk.engine.connect() as conn:
        urls = [u for (u,) in conn.execute(select(owner_reports.c.notify_url))]
    assert urls == [None, None]  # the channel (the number) is gone once the report is closed


def test_nothing_is_queued_in_the_quiet_hours_and_the_latest_state_goes_out_after(
    texting: Owners, http_receiver: HttpReceiver
) -> None:
    told = texting.report(phone="13812345678", updates=True).json()
    _act(texting, told["ticket"], "acknowledge")
    night = 14 * 3600 + 30 * 60  # T0 is 08:00 UTC = 16:00 in Shanghai; this is 22:30 there
    assert (
        tell_reporters(texting.desk.engine, texting.site, T0 + timedelta(seconds=night), ("22:00", "07:00"))
        == 0
    )
    _round(texting, night + 9 * 3600)  # 07:30 the next morning
    [message] = http_receiver.wait_for(1)
    assert "物业已收到您的报修" in message["message"]
