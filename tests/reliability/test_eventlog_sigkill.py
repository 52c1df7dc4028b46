"""SIGKILL between commit and publish, in a loop: every committed change is still told to the outside world.

One ``facwatch run --only gateway,alerts,api`` on PostgreSQL: an elevator is trapped, then moves again (the
alert opens, its ticket opens, notifications are written, the alert resolves). Meanwhile the process is
killed with SIGKILL at seeded-random moments and started again at once. Afterwards every ``alert`` and
``ticket`` event in the log reached the webhook receiver at least once (by ``webhook-id``, signed), and
every alert event reached its MQTT topic ``fw/lakeside/alerts/{asset}`` at least once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text
from standardwebhooks import Webhook as Receiver

from api.auth import TokenStore
from gateway import topics
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import ADMIN, SITE, Elevator, Facwatch, HookReceiver, hook_receiver

SEED = 13
KILLS = 5


@pytest.fixture
def state(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    yield from hook_receiver()


def _canonical(data: object) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def test_sigkill_between_commit_and_publish_every_committed_change_is_delivered(
    mosquitto: MosquittoBroker, state: Engine, hooks: HookReceiver, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    TokenStore(state).register("event-log-admin", ["admin"], ADMIN)
    proc = Facwatch(
        tmp_path / "all",
        mosquitto.url,
        state.url.render_as_string(hide_password=False),
        "gateway,alerts,api",
        api_port=free_port(),
    )
    on_topic: set[bytes] = set()
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            on_topic.add(_canonical(orjson.loads(message.payload)))

    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alert-topic-listener")
    listener.on_message = on_message
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe(topics.alerts(SITE, "+"), qos=1)
    listener.loop_start()
    elevator = Elevator(mosquitto.port)
    try:
        proc.start()
        answer = httpx.post(
            f"{proc.api}/api/v1/webhooks",
            json={"url": hooks.url, "events": ["alert", "ticket"]},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert answer.status_code == 201, answer.text
        secret = answer.json()["secret"]
        with state.connect() as conn:
            start = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one())

        elevator.stuck = True
        for k in range(KILLS):
            time.sleep(rng.uniform(1.5, 5.0))
            if k == KILLS // 2:
                elevator.stuck = False  # the elevator moves again: the alert resolves after its hold
            proc.kill()
            proc.start()
        elevator.stuck = False

        def logged() -> dict[int, tuple[str, bytes]]:
            with state.connect() as conn:
                rows = conn.execute(
                    text("SELECT id, type, body FROM events WHERE id > :s AND type IN ('alert', 'ticket')"),
                    {"s": start},
                ).all()
            return {int(r.id): (str(r.type), _canonical(orjson.loads(r.body))) for r in rows}

        wait_until(
            lambda: any(t == "alert" and b'"state":"resolved"' in b for t, b in logged().values()),
            60,
            "the entrapment raised and resolved",
        )
        committed = logged()

        def hook_ids() -> set[int]:
            return {int(h["webhook-id"]) for h, _, _ in list(hooks.posts)}

        wait_until(lambda: set(committed) <= hook_ids(), 40, "every committed change at the webhook receiver")
        alerts = {body for type_, body in committed.values() if type_ == "alert"}
        wait_until(lambda: alerts <= on_topic, 20, "every alert change on the MQTT alert topics")
        for headers, body, _ in hooks.posts:
            Receiver(secret).verify(body, headers)
        repeats = len(hooks.posts) - len(hook_ids())
        print(f"\n{len(committed)} changes over {KILLS} kills: all delivered; {repeats} webhook repeats")
    finally:
        elevator.close()
        listener.loop_stop()
        listener.disconnect()
        proc.stop()
