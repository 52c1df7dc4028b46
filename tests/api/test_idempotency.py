"""``Idempotency-Key``: a retried POST acts once and answers the same; misuse of a key is a clear 4xx."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from api.db import idempotency_keys
from api.idempotency import IdempotencyStore, Outcome, request_hash
from facwatch.model import Level
from tests.api.conftest import World
from tests.api.fakes import T0


def _act(world: World, ticket: str, body: dict[str, Any], key: str | None, scope: str = "engineer") -> Any:
    headers = world.auth(scope) | ({"Idempotency-Key": key} if key is not None else {})
    return world.client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=headers)


def test_a_retry_with_the_same_key_replays_the_answer_and_acts_once(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    ticket = str(alert.ticket_id)
    first = _act(world, ticket, {"action": "acknowledge"}, "k-1")
    retry = _act(world, ticket, {"action": "acknowledge"}, "k-1")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert len(world.alerts.requests) == 1  # acted once: without the key the retry would be a 409


def test_without_a_key_a_retry_acts_again(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, None).status_code == 200
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, None).status_code == 409
    assert len(world.alerts.requests) == 2


def test_the_same_key_with_another_body_is_422_naming_the_key(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "k-2").status_code == 200
    other = _act(world, str(alert.ticket_id), {"action": "comment", "note": "hi"}, "k-2")
    assert other.status_code == 422
    assert "k-2" in other.json()["detail"] and "different request" in other.json()["detail"]
    assert len(world.alerts.requests) == 1


def test_the_same_key_on_another_route_is_422(world: World) -> None:
    a1 = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    a2 = world.alerts.add_incident("b2-elev-1", Level.RED, T0)
    assert _act(world, str(a1.ticket_id), {"action": "acknowledge"}, "k-3").status_code == 200
    assert _act(world, str(a2.ticket_id), {"action": "acknowledge"}, "k-3").status_code == 422


def test_error_answers_are_replayed_too(world: World) -> None:
    # A 4xx says something about the request: the same request gets the same answer.
    first = _act(world, "T404", {"action": "acknowledge"}, "k-4")
    assert first.status_code == 404
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)  # now T1 exists, but T404 still does not matter
    again = _act(world, "T404", {"action": "acknowledge"}, "k-4")
    assert again.status_code == 404 and again.headers["idempotent-replayed"] == "true"


def test_keys_belong_to_the_caller(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert (
        _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "shared", "engineer").status_code == 200
    )
    # Another token using the same key is a new request of its own (here refused by the lifecycle).
    other = _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "shared", "admin")
    assert other.status_code == 409 and "idempotent-replayed" not in other.headers


def test_keys_expire_after_24_hours(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "k-5").status_code == 200
    world.clock.advance(23 * 3600)
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "k-5").status_code == 200  # replayed
    world.clock.advance(2 * 3600)
    assert (
        _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "k-5").status_code == 409
    )  # new request
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 1


def test_an_invalid_token_with_a_key_is_still_401_and_stores_nothing(world: World) -> None:
    headers = {"Authorization": "Bearer nope-nope-nope-nope", "Idempotency-Key": "k-6"}
    response = world.client.post(
        "/api/v1/tickets/T1/actions", json={"action": "acknowledge"}, headers=headers
    )
    assert response.status_code == 401
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 0


def test_a_forbidden_answer_is_not_kept(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, str(alert.ticket_id), {"action": "acknowledge"}, "k-7", "viewer").status_code == 403
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 0


def test_a_key_that_is_too_long_is_422(world: World) -> None:
    response = _act(world, "T1", {"action": "acknowledge"}, "k" * 201)
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["detail"]


def test_owner_reports_are_created_once_per_key(world: World) -> None:
    body = {"text": "lift stuck", "category": "elevator", "building": "b1"}
    headers = world.auth("integration") | {"Idempotency-Key": "pm-ticket-8812"}
    first = world.client.post("/api/v1/tickets", json=body, headers=headers)
    retry = world.client.post("/api/v1/tickets", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"]
    assert len(world.alerts.reports) == 1


def test_the_request_hash_covers_method_path_query_and_body() -> None:
    base = request_hash("POST", "/a", b"", b"{}")
    assert base == request_hash("POST", "/a", b"", b"{}")
    assert len({base, request_hash("POST", "/b", b"", b"{}"), request_hash("POST", "/a", b"x=1", b"{}")}) == 3
    assert request_hash("POST", "/a", b"", b"{ }") != base
    assert request_hash("POST", "/ab", b"", b"") != request_hash("POST", "/a", b"b", b"")  # no ambiguity


def test_a_second_request_while_the_first_runs_is_told_to_wait(world: World) -> None:
    store = IdempotencyStore(world.engine)
    assert store.claim("p", "k", "POST /x", "h", T0).outcome == Outcome.NEW
    assert store.claim("p", "k", "POST /x", "h", T0).outcome == Outcome.IN_PROGRESS
    store.release("p", "k")  # the first one failed on our side (5xx): the retry may run
    assert store.claim("p", "k", "POST /x", "h", T0).outcome == Outcome.NEW
    store.complete("p", "k", 201, b'{"id": "T1"}', "application/json")
    replay = store.claim("p", "k", "POST /x", "h", T0)
    assert (replay.outcome, replay.status, replay.body) == (Outcome.REPLAY, 201, b'{"id": "T1"}')


def test_every_post_documents_the_header_in_the_openapi(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    posts = [(path, ops["post"]) for path, ops in spec["paths"].items() if "post" in ops]
    assert len(posts) >= 5
    for path, operation in posts:
        names = [p["name"] for p in operation.get("parameters", [])]
        assert names.count("Idempotency-Key") == 1, path
