"""An owners' complaint kept while no process ran the site's alerts is judged by the next owner, however long
after, and once: real ``facwatch run`` processes on real PostgreSQL, Mosquitto and InfluxDB, ``api`` =
``--only api`` (a stateless replica) and ``w`` = ``--only worker`` (the site's only worker).

- The car is trapped (a RED); the worker stops; the owners complain through the replica, which keeps the
  message; its ``received_at`` is then moved ten minutes back (as if the worker had been down that long:
  before, the owner's first look went back 60 s only, and the complaint was never noted); the worker starts
  again: the complaint is noted on the RED's ticket.
- A second worker starts and the first stops (a handover: a new process, nothing in memory); the new owner
  judges a second complaint (the sign that it has looked): the first complaint is still noted once, and was
  not judged again."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from alerts.engine.chat_db import chat_messages
from tests.cluster.conftest import ProcFactory
from tests.cluster.test_api_writes import CHAT, say
from tests.cluster.workers import Publisher, get, reds, settled, start_all, write_sites
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


def notes(api: str, ticket: str, words: str) -> int:
    answer = get(api, f"/tickets/{ticket}")
    assert answer.status_code == 200, answer.text
    return sum(words in (entry.get("note") or "") for entry in answer.json()["timeline"])


def judged_at(engine: Engine, msg_id: str) -> datetime | None:
    with engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(chat_messages.c.judged_at).where(chat_messages.c.msg_id == msg_id)
        ).scalar_one()
    return value


def test_a_complaint_kept_while_no_worker_ran_the_site_is_noted_once_by_the_next(
    tmp_path: Path,
    procs: ProcFactory,
    cluster_db: Engine,
    mosquitto: MosquittoBroker,
    http_receiver: HttpReceiver,
) -> None:
    [site] = write_sites(tmp_path / "sites", 1, http_receiver.url, extra=CHAT)
    api, worker = procs("api", parts="api"), procs("w")
    start_all([api, worker])
    publisher = Publisher(mosquitto.port, [site])
    try:
        settled(cluster_db, [worker], [1])
        publisher.stuck.add(site)
        wait_until(lambda: len(reds(api.api, site)) == 1, 60, "the RED of the trapped car")
        [red] = reds(api.api, site)
        ticket: str = red["ticket_id"]
        ts = int(datetime.fromisoformat(red["opened_at"]).timestamp() * 1000)

        worker.stop()  # nobody runs the site's alerts now
        kept: dict[str, Any] = say(api.api, site, "c1", "1单元电梯困人了！快来人！！", ts + 1000).json()
        assert kept["complaint"] is True and kept["ticket_id"] is None  # kept, not judged
        with cluster_db.begin() as conn:  # kept ten minutes ago: the worker was down that long
            conn.execute(
                update(chat_messages)
                .where(chat_messages.c.msg_id == "c1")
                .values(received_at=chat_messages.c.received_at - timedelta(minutes=10))
            )
        assert judged_at(cluster_db, "c1") is None

        worker.start(timeout=120)
        wait_until(lambda: notes(api.api, ticket, "1单元电梯困人了") == 1, 60, "the complaint on the ticket")
        first = judged_at(cluster_db, "c1")
        assert first is not None

        successor = procs("w2")
        successor.start(timeout=120)
        worker.stop()  # handed over
        wait_until(lambda: successor.running_sites() == {site}, 60, "the site taken over by w2")
        again = say(api.api, site, "c2", "1单元电梯又困人了！快来人！！", ts + 2000)
        assert again.status_code == 201 and again.json()["complaint"] is True
        wait_until(lambda: notes(api.api, ticket, "1单元电梯又困人了") == 1, 60, "the second complaint noted")
        assert notes(api.api, ticket, "1单元电梯困人了") == 1  # noted once
        assert judged_at(cluster_db, "c1") == first  # and not judged again
    finally:
        publisher.close()
