"""Webhooks: subscribe over the API, events from the bus are POSTed signed, retried when the receiver fails,
and the delivery log tells what happened. Against real local HTTP servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook as Receiver

from alerts.engine.events import Event
from api.webhooks import MAX_ATTEMPTS, WebhookStore, backoff_s
from facwatch.state import migrate, open_engine
from tests.api.conftest import LOCAL_TARGETS, World
from tests.api.fakes import T0
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.servers import free_port

SECRET = "s3cret-shared-with-the-ticket-system"


@dataclass
class RawReceiver:
    """Keeps the exact bytes and headers of each POST: a signature is over bytes, not over parsed JSON."""

    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def raw_receiver() -> Iterator[RawReceiver]:
    port = free_port()
    receiver = RawReceiver(url=f"http://127.0.0.1:{port}/hooks/facwatch")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(5)


def _until(
    check: Callable[[], bool], timeout: float, what: str, tick: Callable[[], object] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if tick is not None:
            tick()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _subscribe(world: World, url: str, events: list[str], secret: str | None = SECRET) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": events} | ({"secret": secret} if secret else {})
    response = world.client.post("/api/v1/webhooks", json=body, headers=world.auth("integration"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _deliveries(world: World, hook: str) -> list[dict[str, Any]]:
    response = world.client.get(f"/api/v1/webhooks/{hook}/deliveries", headers=world.auth("integration"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_ticket_event_arrives_signed_and_the_signature_verifies(
    world: World, raw_receiver: RawReceiver
) -> None:
    hook = _subscribe(world, raw_receiver.url, ["ticket"])
    assert hook["secret"] == SECRET and hook["owner"] == "integration-user"
    world.bus.publish("ticket", {"id": "T7", "state": "dispatched", "asset": "b1-elev-1"}, T0)
    _until(lambda: len(raw_receiver.posts) == 1, 10, "the delivery")
    headers, body = raw_receiver.posts[0]
    assert headers["content-type"] == "application/json"
    # Standard Webhooks: the receiver signs "{webhook-id}.{webhook-timestamp}.{body}" with the secret and
    # compares (the clock here is the test's manual one, so the package's own time window is not used).
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert sent_at == T0
    assert headers["webhook-id"].isdigit()
    expected = Receiver(SECRET.encode()).sign(headers["webhook-id"], sent_at, body.decode())
    assert headers["webhook-signature"] == expected
    other = Receiver(b"another-secret-entirely").sign(headers["webhook-id"], sent_at, body.decode())
    assert headers["webhook-signature"] != other
    changed = Receiver(SECRET.encode()).sign(headers["webhook-id"], sent_at, body.decode() + " ")
    assert headers["webhook-signature"] != changed  # a changed body fails
    payload = orjson.loads(body)
    assert payload["type"] == "ticket" and payload["data"]["id"] == "T7"
    _until(lambda: _deliveries(world, hook["id"])[0]["status"] == "delivered", 5, "the log entry")
    [entry] = _deliveries(world, hook["id"])
    assert (entry["attempts"], entry["last_status"], entry["last_error"]) == (1, 204, None)


def test_only_subscribed_event_types_are_sent(world: World, raw_receiver: RawReceiver) -> None:
    _subscribe(world, raw_receiver.url, ["alert"])
    world.bus.publish("ticket", {"id": "T1"}, T0)
    world.bus.publish("health", {"ok": True}, T0)
    world.bus.publish("alert", {"id": "A1"}, T0)
    _until(lambda: len(raw_receiver.posts) >= 1, 10, "the alert delivery")
    time.sleep(0.3)  # give a wrongly queued ticket event the chance to show up
    assert [orjson.loads(body)["type"] for _, body in raw_receiver.posts] == ["alert"]


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    world: World, http_receiver: HttpReceiver
) -> None:
    http_receiver.fail_next = 2
    hook = _subscribe(world, http_receiver.http_url, ["alert"], secret=None)
    assert len(hook["secret"]) >= 32  # generated, shown once
    world.bus.publish("alert", {"id": "A3", "level": "red"}, T0)
    # The manual clock stands still: move it on so each backoff runs out, until the receiver has it.
    _until(
        lambda: len(http_receiver.received) == 1,
        20,
        "the retried delivery",
        tick=lambda: world.clock.advance(5),
    )
    assert http_receiver.received[0]["data"]["id"] == "A3"
    [entry] = _deliveries(world, hook["id"])
    assert entry["status"] == "delivered" and entry["attempts"] == 3
    assert entry["last_status"] == 200


def test_an_unreachable_receiver_is_recorded_with_its_error(world: World) -> None:
    hook = _subscribe(world, f"http://127.0.0.1:{free_port()}/gone", ["alert"])
    world.bus.publish("alert", {"id": "A4"}, T0)
    _until(lambda: _deliveries(world, hook["id"])[0]["attempts"] >= 1, 10, "the first attempt")
    [entry] = _deliveries(world, hook["id"])
    assert entry["status"] == "pending" and entry["last_status"] is None
    assert "Connect" in entry["last_error"]
    assert entry["next_attempt_at"] is not None


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(30) == 300.0


def test_list_get_and_delete_subscriptions(world: World) -> None:
    a = _subscribe(world, "http://127.0.0.1:9/a", ["alert"])
    b = _subscribe(world, "http://127.0.0.1:9/b", ["ticket", "alert"])
    auth = world.auth("integration")
    page = world.client.get("/api/v1/webhooks", params={"limit": 1}, headers=auth).json()
    assert len(page["items"]) == 1 and page["next"]
    rest = world.client.get("/api/v1/webhooks", params={"cursor": page["next"]}, headers=auth).json()
    assert {h["id"] for h in page["items"] + rest["items"]} == {a["id"], b["id"]}
    assert "secret" not in page["items"][0]  # shown once, at creation
    assert world.client.get(f"/api/v1/webhooks/{b['id']}", headers=auth).json()["events"] == [
        "ticket",
        "alert",
    ]
    assert world.client.delete(f"/api/v1/webhooks/{a['id']}", headers=auth).status_code == 204
    assert world.client.delete(f"/api/v1/webhooks/{a['id']}", headers=auth).status_code == 404
    assert world.client.get(f"/api/v1/webhooks/{a['id']}/deliveries", headers=auth).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "events": ["alert"]},  # not http(s)
        {"url": "http://example.com/x", "events": []},  # nothing to send
        {"url": "http://example.com/x", "events": ["notification"]},  # not offered
        {"url": "http://example.com/x", "events": ["alert"], "secret": "short"},  # a weak secret
        {"events": ["alert"]},  # no url
    ],
)
def test_bad_subscriptions_are_422(world: World, body: dict[str, Any]) -> None:
    response = world.client.post("/api/v1/webhooks", json=body, headers=world.auth("integration"))
    assert response.status_code == 422


def test_a_bad_delivery_cursor_is_422(world: World) -> None:
    hook = _subscribe(world, "http://127.0.0.1:9/a", ["alert"])
    response = world.client.get(
        f"/api/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "abc"}, headers=world.auth()
    )
    assert response.status_code == 422


def test_a_delivery_fails_for_good_after_the_last_attempt(tmp_path: Path) -> None:
    # A database of its own: the app's webhook worker (which the ``world`` runs) would race for the row.
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    store = WebhookStore(engine, LOCAL_TARGETS)
    hook, _ = store.subscribe("http://127.0.0.1:9/x", ["alert"], "me", T0)
    assert store.enqueue(Event(type="alert", data={"id": "A1"}, ts=T0, id=1), T0) == 1
    [due] = store.due(T0)
    delivery_id = due.id
    outcomes = [store.record(delivery_id, T0, 503, None) for _ in range(MAX_ATTEMPTS)]
    assert outcomes == ["pending"] * (MAX_ATTEMPTS - 1) + ["failed"]
    [entry] = store.deliveries(hook.id, 10, None).items
    assert (entry.status, entry.attempts, entry.last_error) == ("failed", MAX_ATTEMPTS, "HTTP 503")
    assert store.due(T0 + timedelta(days=1)) == []  # nothing is retried after that


def test_a_rotated_secret_and_the_previous_one_both_sign_during_the_rollover(
    world: World, raw_receiver: RawReceiver
) -> None:
    hook = _subscribe(world, raw_receiver.url, ["alert"], secret=None)
    old = hook["secret"]
    assert old.startswith("whsec_")
    answer = world.client.post(f"/api/v1/webhooks/{hook['id']}/rotate", headers=world.auth("integration"))
    assert answer.status_code == 200, answer.text
    new = answer.json()["secret"]
    assert new != old and answer.json()["previous_valid_until"].startswith("2024-05-02T08:00")
    world.bus.publish("alert", {"id": "A-rollover"}, T0)
    _until(lambda: len(raw_receiver.posts) == 1, 10, "the delivery")
    headers, body = raw_receiver.posts[0]
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    signatures = headers["webhook-signature"].split(" ")
    for secret in (new, old):  # a receiver on either secret accepts it
        assert Receiver(secret).sign(headers["webhook-id"], sent_at, body.decode()) in signatures
    # After the rollover only the new secret signs.
    world.clock.advance(86401)
    world.bus.publish("alert", {"id": "A-after"}, world.clock.now())
    _until(lambda: len(raw_receiver.posts) == 2, 10, "the second delivery")
    headers, body = raw_receiver.posts[1]
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert headers["webhook-signature"] == Receiver(new).sign(headers["webhook-id"], sent_at, body.decode())
    other = world.client.post(f"/api/v1/webhooks/{hook['id']}/rotate", headers=world.auth("viewer"))
    assert other.status_code in (403, 404)
