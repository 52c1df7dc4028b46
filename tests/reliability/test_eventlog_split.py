"""The event log across processes, on one PostgreSQL: ``facwatch run --only gateway,alerts`` raises an
entrapment; ``--only api`` (another process) streams it (SSE within 2 s) and POSTs it to a webhook receiver
(within 5 s) signed per Standard Webhooks (verified with the ``standardwebhooks`` package). A stream that
reconnects with ``Last-Event-ID`` gets exactly what it missed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, text
from standardwebhooks import Webhook as Receiver

from api.auth import TokenStore
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.postgres import fresh_database
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until
from tests.reliability.eventlog_harness import (
    ADMIN,
    Elevator,
    EventStream,
    Facwatch,
    HookReceiver,
    Received,
    hook_receiver,
)

AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def state(postgres_url: str) -> Iterator[Engine]:
    yield from fresh_database(postgres_url)


@pytest.fixture
def hooks() -> Iterator[HookReceiver]:
    yield from hook_receiver()


class FirstSeen:
    """Watches the events table (every 20 ms) and notes when each row is first visible."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: dict[int, tuple[str, dict[str, object], float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        position = 0
        while not self._stop.wait(0.02):
            with self.engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT id, type, body FROM events WHERE id > :p ORDER BY id"), {"p": position}
                ).all()
            now = time.monotonic()
            for row in rows:
                self.seen[int(row.id)] = (str(row.type), orjson.loads(row.body), now)
                position = int(row.id)

    def entrapment(self) -> int | None:
        for pk, (type_, body, _) in sorted(self.seen.items()):
            if type_ == "alert" and body.get("kind") == "elevator.entrapment":
                return pk
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _entrapment(
    api_proc: Facwatch, hooks: HookReceiver, elevator: Elevator, watcher: FirstSeen, stream: EventStream
) -> tuple[int, Received, float, float]:
    """Subscribe a webhook, trap people in the elevator: (event id, as streamed, SSE and webhook delay after
    the commit), each delay asserted (2 s, 5 s) and the delivery verified per Standard Webhooks."""
    answer = httpx.post(
        f"{api_proc.api}/api/v1/webhooks", json={"url": hooks.url, "events": ["alert"]}, headers=AUTH
    )
    assert answer.status_code == 201, answer.text
    secret = answer.json()["secret"]
    assert secret.startswith("whsec_")
    elevator.stuck = True  # people trapped between floors
    wait_until(lambda: watcher.entrapment() is not None, 60, "the engine raised the entrapment")
    pk = watcher.entrapment()
    assert pk is not None
    committed_at = watcher.seen[pk][2]

    wait_until(lambda: any(e.id == pk for e in stream.events), 5, "the entrapment on the API's stream")
    [on_stream] = [e for e in stream.events if e.id == pk]
    assert on_stream.type == "alert" and on_stream.data["kind"] == "elevator.entrapment"
    assert on_stream.data["asset"] == "b1-elev-1"
    sse_delay = on_stream.at - committed_at
    assert sse_delay < 2.0, f"SSE took {sse_delay:.2f} s"

    def delivered() -> list[tuple[dict[str, str], bytes, float]]:
        return [p for p in hooks.posts if p[0].get("webhook-id") == str(pk)]

    wait_until(lambda: bool(delivered()), 10, "the entrapment at the webhook receiver")
    headers, body, arrived = delivered()[0]
    hook_delay = arrived - committed_at
    assert hook_delay < 5.0, f"the webhook took {hook_delay:.2f} s"
    payload = Receiver(secret).verify(body, headers)  # raises unless signed with our secret, recently
    assert payload["type"] == "alert" and payload["data"]["kind"] == "elevator.entrapment"
    assert payload["id"] == pk
    with pytest.raises(Exception, match="signature"):
        Receiver("whsec_" + "A" * 43).verify(body, headers)
    return pk, on_stream, sse_delay, hook_delay


def test_split_processes_an_entrapment_reaches_the_api_stream_and_a_webhook_signed(
    mosquitto: MosquittoBroker, state: Engine, hooks: HookReceiver, tmp_path: Path
) -> None:
    state_url = state.url.render_as_string(hide_password=False)
    engine_proc = Facwatch(tmp_path / "engine", mosquitto.url, state_url, "gateway,alerts")
    api_proc = Facwatch(tmp_path / "api", mosquitto.url, state_url, "api", api_port=free_port())
    elevator = Elevator(mosquitto.port)
    watcher = FirstSeen(state)
    streams: list[EventStream] = []
    try:
        TokenStore(state).register("event-log-admin", ["admin"], ADMIN)
        api_proc.start()
        engine_proc.start()
        stream = EventStream(api_proc.api)
        streams.append(stream)
        _, on_stream, sse_delay, hook_delay = _entrapment(api_proc, hooks, elevator, watcher, stream)
        print(f"\nsplit: SSE {sse_delay * 1000:.0f} ms, webhook {hook_delay * 1000:.0f} ms after commit")

        # Resume: the stream goes away, events happen meanwhile (an acknowledgement through the API
        # process, the engine's own changes), and a reconnect with Last-Event-ID gets exactly those.
        last = max(e.id for e in stream.events)
        stream.close()
        ref = on_stream.data["id"]
        answer = httpx.post(f"{api_proc.api}/api/v1/alerts/{ref}/acknowledge", json={}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        wait_until(lambda: max(watcher.seen) > last, 10, "events while the stream was away")
        resumed = EventStream(api_proc.api, last_event_id=last)
        streams.append(resumed)
        upto = max(watcher.seen)
        wait_until(lambda: any(e.id >= upto for e in resumed.events), 5, "the resumed stream caught up")
        got = [e.id for e in resumed.events if e.id <= upto]
        assert got == [
            i for i in sorted(watcher.seen) if last < i <= upto
        ]  # each missed event, once, in order
        acknowledged = [e for e in resumed.events if e.type == "alert" and e.data["id"] == ref]
        assert acknowledged and acknowledged[-1].data["acknowledged_by"]

        # The board's data-path panel, from the API-only process: the gateway's own figures, fresh.
        def datapath() -> dict[str, object]:
            answer = httpx.get(f"{api_proc.api}/api/v1/health/datapath", headers=AUTH)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        wait_until(lambda: (datapath().get("figures") or {}).get("readings_per_s"), 15, "a readings rate")
        panel = datapath()
        figures = panel["figures"]
        assert isinstance(figures, dict) and figures["readings_total"] > 0 and not panel["stale"]
    finally:
        elevator.close()
        for s in streams:
            s.close()
        watcher.close()
        engine_proc.stop()
        api_proc.stop()


def test_one_process_for_reference(
    mosquitto: MosquittoBroker, state: Engine, hooks: HookReceiver, tmp_path: Path
) -> None:
    """The same path in one process (``gateway,alerts,api``): the reference for the split figures."""
    state_url = state.url.render_as_string(hide_password=False)
    proc = Facwatch(tmp_path / "all", mosquitto.url, state_url, "gateway,alerts,api", api_port=free_port())
    elevator = Elevator(mosquitto.port)
    watcher = FirstSeen(state)
    stream: EventStream | None = None
    try:
        TokenStore(state).register("event-log-admin", ["admin"], ADMIN)
        proc.start()
        stream = EventStream(proc.api)
        _, _, sse_delay, hook_delay = _entrapment(proc, hooks, elevator, watcher, stream)
        print(
            f"\none process: SSE {sse_delay * 1000:.0f} ms, webhook {hook_delay * 1000:.0f} ms after commit"
        )
    finally:
        elevator.close()
        if stream is not None:
            stream.close()
        watcher.close()
        proc.stop()
