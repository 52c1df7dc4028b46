"""What people do through any API replica works whichever worker holds the site, and what the engine writes
stays with the site's owner: two real ``facwatch run`` processes on real PostgreSQL, Mosquitto and InfluxDB,
``w1`` = ``--only worker,api`` and ``w2`` = ``--only worker``, one site each.

- An engineer acknowledges, through ``w1``'s API, the RED of the site ``w2`` holds: it is acknowledged (the
  people's writes are not fenced by a lease the API's process does not hold).
- Owners' messages of that site posted to ``w1``'s API are kept there and judged by ``w2``: the complaint
  about the trapped car is noted on the RED's ticket, and five complaint keywords call the steward."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.cluster.conftest import ProcFactory
from tests.cluster.workers import ADMIN, Publisher, get, reds, settled, start_all, write_sites
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

CHAT = """
[[people]]
id = "stw-a"
notify = ["{receiver}{site}/steward"]

[chat]
steward_keywords = 5

[[chat.groups]]
id = "b1-owners"
building = "b1"
name = "1号楼业主群"
platform = "dingtalk"
secret = "dingtalk-secret-{site}-0123456789"
steward = "stw-a"
"""


def post(api: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{api}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    )


def say(api: str, site: str, msg_id: str, text: str, ts_ms: int) -> httpx.Response:
    body = {
        "site": site,
        "group": "b1-owners",
        "msg_id": msg_id,
        "sender": "owner",
        "text": text,
        "ts": ts_ms,
    }
    return post(api, "/chat/messages", body)


def test_people_act_through_any_replica_and_the_owner_judges_the_chat(
    tmp_path: Path,
    procs: ProcFactory,
    cluster_db: Engine,
    mosquitto: MosquittoBroker,
    http_receiver: HttpReceiver,
) -> None:
    sites = write_sites(tmp_path / "sites", 2, http_receiver.url, extra=CHAT)
    w1, w2 = procs("w1", parts="worker,api"), procs("w2")
    start_all([w1, w2])
    publisher = Publisher(mosquitto.port, sites)
    try:
        settled(cluster_db, [w1, w2], [1, 1])
        [site] = w2.running_sites()  # held by w2; w1 serves the API
        publisher.stuck.add(site)
        wait_until(lambda: len(reds(w1.api, site)) == 1, 60, "the RED of w2's site, read through w1")
        [red] = reds(w1.api, site)

        acked = post(w1.api, f"/alerts/{red['id']}/acknowledge", {})
        assert acked.status_code == 200, acked.text
        assert acked.json()["acknowledged_at"] is not None

        ts = int(datetime.fromisoformat(red["opened_at"]).timestamp() * 1000)
        kept = say(w1.api, site, "c1", "1单元电梯困人了！快来人！！", ts + 1000)
        assert kept.status_code == 201, kept.text
        assert kept.json()["complaint"] is True and kept.json()["ticket_id"] is None  # w2 judges it

        def noted() -> bool:
            ticket = get(w1.api, f"/tickets/{red['ticket_id']}").json()
            return any("1单元电梯困人了" in (e.get("note") or "") for e in ticket["timeline"])

        wait_until(noted, 30, "the owners' complaint on the RED's ticket, noted by the site's owner")

        for n, text in enumerate(["电梯又坏了，无语", "又停水了，投诉", "门禁天天坏，服了"]):
            assert say(w1.api, site, f"k{n}", text, ts + 2000 + n).status_code == 201

        def steward() -> list[dict[str, Any]]:
            items = get(w1.api, "/alerts", site=site, state="firing", limit=100).json()["items"]
            return [a for a in items if a["kind"] == "owners.complaints"]

        wait_until(lambda: len(steward()) == 1, 30, "the steward called by the site's owner")
        [called] = steward()
        assert (called["building"], called["level"]) == ("b1", "yellow")
    finally:
        publisher.close()
