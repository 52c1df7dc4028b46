"""Server-sent events over a real uvicorn server (``api.server.serve``), read with httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from api.main import create_app
from api.server import ServerHandle, serve
from facwatch.errors import StartupError
from tests.api.conftest import World

TIMEOUT = httpx.Timeout(5.0)


@pytest.fixture
def server(world: World) -> Iterator[ServerHandle]:
    app = create_app(world.app.state.services, heartbeat_s=0.3)
    handle = serve(app, "127.0.0.1", 0)
    yield handle
    handle.stop()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(field, value) pairs of an SSE stream; comments come as ("", text)."""
    for line in lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        yield name, value.strip()


def _read_until(
    pairs: Iterator[tuple[str, str]], field: str, value: str | None = None
) -> list[tuple[str, str]]:
    seen = []
    for pair in pairs:
        seen.append(pair)
        if pair[0] == field and (value is None or pair[1] == value):
            return seen
    raise AssertionError(f"stream ended before {field}: {value} (saw {seen})")


def _ticket(server: ServerHandle, world: World, scope: str = "viewer") -> dict[str, str]:
    """The query of a stream opened as EventSource opens it: no headers, a single-use ticket."""
    headers = {"Authorization": f"Bearer {world.token[scope]}"}
    response = httpx.post(f"{server.url}/api/v1/events/ticket", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return {"ticket": response.json()["ticket"]}


def test_a_published_bus_event_reaches_the_stream(server: ServerHandle, world: World) -> None:
    params = _ticket(server, world)  # as EventSource sends it: no headers
    with httpx.stream("GET", f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        pairs = _events(response.iter_lines())
        _read_until(pairs, "", "connected")  # subscribed from here on
        world.bus.publish(
            "alert",
            {"id": "A1", "level": "red", "opened_at": datetime(2024, 5, 1, tzinfo=UTC)},
            ts=datetime.now(UTC),
        )
        seen = _read_until(pairs, "data")
    assert ("event", "alert") in seen
    data = json.loads(seen[-1][1])
    assert data == {"id": "A1", "level": "red", "opened_at": "2024-05-01T00:00:00Z"}


def test_the_stream_sends_heartbeats_and_accepts_a_bearer_header(server: ServerHandle, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.token['viewer']}"}
    with httpx.stream("GET", f"{server.url}/api/v1/events", headers=headers, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        pairs = _events(response.iter_lines())
        _read_until(pairs, "", "heartbeat")
        _read_until(pairs, "", "heartbeat")


def test_the_stream_ends_when_the_bus_closes(server: ServerHandle, world: World) -> None:
    params = _ticket(server, world)
    with httpx.stream("GET", f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        pairs = _events(response.iter_lines())
        _read_until(pairs, "", "connected")
        world.bus.close()
        rest = list(pairs)  # returns only because the server ended the response
    assert all(field != "data" for field, _ in rest)


def test_a_stream_without_a_token_is_refused(server: ServerHandle, world: World) -> None:
    assert httpx.get(f"{server.url}/api/v1/events", timeout=TIMEOUT).status_code == 401
    bad = httpx.get(f"{server.url}/api/v1/events", params={"ticket": "nope"}, timeout=TIMEOUT)
    assert bad.status_code == 401
    # The long-lived token in the URL is no longer accepted, not even by the stream.
    old = httpx.get(
        f"{server.url}/api/v1/events", params={"access_token": world.token["viewer"]}, timeout=TIMEOUT
    )
    assert old.status_code == 401


def test_a_token_in_the_query_is_accepted_by_no_route(server: ServerHandle, world: World) -> None:
    """Tokens in URLs end up in logs and browser history: EventSource uses a single-use ticket instead."""
    response = httpx.get(
        f"{server.url}/api/v1/alerts", params={"access_token": world.token["admin"]}, timeout=TIMEOUT
    )
    assert response.status_code == 401


def test_a_departed_client_is_unsubscribed(server: ServerHandle, world: World) -> None:
    params = _ticket(server, world)
    with httpx.stream("GET", f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        pairs = _events(response.iter_lines())  # held: dropping the iterator would close the connection
        _read_until(pairs, "", "connected")
        assert world.bus.subscribers == 1
    # Noticed at the next write (a heartbeat, 0.3 s here).
    for _ in range(50):
        if world.bus.subscribers == 0:
            break
        time.sleep(0.1)
    assert world.bus.subscribers == 0


def test_stop_returns_promptly_with_a_stream_open(world: World) -> None:
    handle = serve(create_app(world.app.state.services), "127.0.0.1", 0)
    params = _ticket(handle, world)
    with httpx.stream("GET", f"{handle.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        pairs = _events(response.iter_lines())
        _read_until(pairs, "", "connected")
        started = datetime.now(UTC)
        handle.stop()
        assert not handle.thread.is_alive()
        assert (datetime.now(UTC) - started).total_seconds() < 5


def test_serve_reports_a_taken_port(server: ServerHandle, world: World) -> None:
    with pytest.raises(StartupError, match=str(server.port)):
        serve(create_app(world.app.state.services), "127.0.0.1", server.port, start_timeout=5)


def test_a_ticket_opens_one_stream_once_within_a_minute(server: ServerHandle, world: World) -> None:
    params = _ticket(server, world)
    with httpx.stream("GET", f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        _read_until(_events(response.iter_lines()), "", "connected")
    again = httpx.get(f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT)
    assert again.status_code == 401 and "ticket" in again.json()["detail"]
    late = _ticket(server, world)
    world.clock.advance(61)
    assert httpx.get(f"{server.url}/api/v1/events", params=late, timeout=TIMEOUT).status_code == 401


def test_a_revoked_tokens_open_stream_ends_within_5_s(server: ServerHandle, world: World) -> None:
    token = world.tokens.create("wall-screen", ["viewer"])
    principal = world.tokens.verify(token)
    assert principal is not None
    headers = {"Authorization": f"Bearer {token}"}
    ticket = httpx.post(f"{server.url}/api/v1/events/ticket", headers=headers, timeout=TIMEOUT).json()
    params = {"ticket": ticket["ticket"]}
    with httpx.stream("GET", f"{server.url}/api/v1/events", params=params, timeout=TIMEOUT) as response:
        pairs = _events(response.iter_lines())
        _read_until(pairs, "", "connected")
        world.bus.publish("alert", {"id": "A-before"}, ts=datetime.now(UTC))
        _read_until(pairs, "data")
        assert world.tokens.revoke(principal.id)
        revoked = time.monotonic()
        rest = list(pairs)  # returns only because the server ended the response
        took = time.monotonic() - revoked
    assert ("event", "revoked") in rest
    assert took < 5.0, f"the stream ran on {took:.1f} s after the revocation"
