"""Tokens and scopes, and auth on every route — generated from the app's OpenAPI so no route can forget it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from api.auth import Principal, Scope, hash_token, parse_expiry
from api.db import api_tokens
from api.server import serve
from tests.api.conftest import World

OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}
# The chat platforms send no bearer token: their callbacks are open and checked for their signature instead
# (tests/chat/test_connectors.py).
OPEN_PATHS |= {"/api/v1/chat/dingtalk/{group}", "/api/v1/chat/feishu/{group}"}
SCOPES = ("viewer", "engineer", "manager", "integration", "admin")

# Every authenticated route and the scope it needs. A new route must be added here (the first test
# fails otherwise), which is the point: deciding who may call it is part of adding it.
REQUIRED: dict[tuple[str, str], Scope] = {
    ("GET", "/api/v1/sites"): Scope.VIEWER,
    ("GET", "/api/v1/sites/{site_id}"): Scope.VIEWER,
    ("GET", "/api/v1/alerts"): Scope.VIEWER,
    ("GET", "/api/v1/alerts/{alert_id}"): Scope.VIEWER,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): Scope.ENGINEER,
    ("POST", "/api/v1/alerts/{alert_id}/silence"): Scope.MANAGER,  # silencing mutes the escalation chain
    ("GET", "/api/v1/tickets"): Scope.VIEWER,
    ("POST", "/api/v1/tickets"): Scope.ENGINEER,  # integration and manager hold it too
    ("GET", "/api/v1/tickets/{ticket_id}"): Scope.VIEWER,
    ("POST", "/api/v1/tickets/{ticket_id}/actions"): Scope.ENGINEER,
    ("GET", "/api/v1/assets"): Scope.VIEWER,
    ("GET", "/api/v1/assets/{asset_id}"): Scope.VIEWER,
    ("GET", "/api/v1/assets/{asset_id}/readings"): Scope.VIEWER,
    ("GET", "/api/v1/reports/sla"): Scope.MANAGER,
    ("GET", "/api/v1/reports/incidents"): Scope.MANAGER,
    ("POST", "/api/v1/webhooks"): Scope.INTEGRATION,
    ("GET", "/api/v1/webhooks"): Scope.INTEGRATION,
    ("GET", "/api/v1/webhooks/{webhook_id}"): Scope.INTEGRATION,
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Scope.INTEGRATION,
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Scope.INTEGRATION,
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate"): Scope.INTEGRATION,
    ("GET", "/api/v1/health/datapath"): Scope.VIEWER,
    ("GET", "/api/v1/dead-letters"): Scope.ENGINEER,
    ("GET", "/api/v1/events"): Scope.VIEWER,
    ("POST", "/api/v1/events/ticket"): Scope.VIEWER,
    ("POST", "/api/v1/chat/messages"): Scope.INTEGRATION,  # a chat bridge
    ("POST", "/api/v1/maintenance/windows"): Scope.ENGINEER,
    ("GET", "/api/v1/maintenance/windows"): Scope.ENGINEER,
    ("DELETE", "/api/v1/maintenance/windows/{ref}"): Scope.ENGINEER,
    ("PATCH", "/api/v1/maintenance/windows/{ref}"): Scope.ENGINEER,
    ("POST", "/api/v1/maintenance/visits"): Scope.ENGINEER,
    ("GET", "/api/v1/maintenance/visits"): Scope.ENGINEER,
}

# Valid arguments, so that whatever answers is auth, not validation.
PATH_VALUES = {
    "ticket_id": "T1",
    "asset_id": "b1-elev-1",
    "site_id": "lakeside",
    "alert_id": "A1",
    "webhook_id": "0" * 32,
    "ref": "W-1",
}
QUERY = {"/api/v1/assets/{asset_id}/readings": {"channel": "floor", "start": "0", "end": "1000"}}
BODY: dict[str, dict[str, Any]] = {
    "/api/v1/tickets/{ticket_id}/actions": {"action": "comment", "note": "auth check"},
    "/api/v1/alerts/{alert_id}/silence": {"duration_s": 60, "reason": "auth check"},
    "/api/v1/tickets": {"text": "no water", "category": "water", "building": "b1"},
    "/api/v1/webhooks": {"url": "http://127.0.0.1:9/hook", "events": ["alert"]},
    "/api/v1/chat/messages": {
        "site": "lakeside",
        "group": "b1-owners",
        "msg_id": "auth-check",
        "text": "auth check",
        "ts": 0,
    },
}


def _routes(world: World) -> list[tuple[str, str]]:
    spec = world.client.get("/openapi.json").json()
    return sorted((method.upper(), path) for path, ops in spec["paths"].items() for method in ops)


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    """A real server (an endless event stream is not something every TestClient version can cut short)."""
    handle = serve(world.app, "127.0.0.1", 0)
    with httpx.Client(base_url=handle.url, timeout=5) as client:
        yield client
    handle.stop()


def _call(http: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    url = path
    for name, value in PATH_VALUES.items():
        url = url.replace("{" + name + "}", value)
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERY.get(path, {})}
    if method == "POST":
        kwargs["json"] = BODY.get(path, {})
    if path.endswith("/events"):  # a stream: the status line is all we need
        with http.stream(method, url, **kwargs) as response:
            return response.status_code
    return http.request(method, url, **kwargs).status_code


def test_every_route_is_classified(world: World) -> None:
    routes = set(_routes(world))
    authenticated = {r for r in routes if r[1] not in OPEN_PATHS}
    assert authenticated == set(REQUIRED), "add the new route to REQUIRED with the scope it needs"
    assert {path for _, path in routes} >= OPEN_PATHS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["no token", "unknown token", "basic auth", "empty bearer"],
)
def test_every_route_refuses_a_missing_or_bad_token_with_401(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    for method, path in REQUIRED:
        status = _call(http, method, path, headers)
        assert status == 401, f"{method} {path} answered {status}"


def test_a_revoked_token_is_refused_everywhere(world: World, http: httpx.Client) -> None:
    token = world.tokens.create("leaver", ["admin"])
    principal = world.tokens.verify(token)
    assert principal is not None
    assert world.tokens.revoke(principal.id)
    for method, path in REQUIRED:
        assert _call(http, method, path, {"Authorization": f"Bearer {token}"}) == 401, path


def test_every_route_answers_403_to_a_token_without_its_scope(world: World, http: httpx.Client) -> None:
    # A token whose scopes grant nothing (e.g. a scope retired since) is known but authorised for nothing.
    with world.engine.begin() as conn:
        conn.execute(
            insert(api_tokens).values(
                id="noscope",
                name="nobody",
                token_hash=hash_token("n" * 32),
                scopes="retired",
                created_at=datetime.now(UTC),
            )
        )
    world.token["none"] = "n" * 32
    for (method, path), needed in REQUIRED.items():
        for scope in ("none", *SCOPES):
            status = _call(http, method, path, world.auth(scope))
            granted = scope != "none" and Principal("x", "x", frozenset({Scope(scope)})).allows(needed)
            if granted:
                assert status not in (401, 403), f"{scope} should reach {method} {path}, got {status}"
            else:
                assert status == 403, f"{scope} should get 403 from {method} {path}, got {status}"


def test_open_routes_need_no_token(world: World) -> None:
    health = world.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["site"] == "lakeside"
    metrics = world.client.get("/metrics")
    assert metrics.status_code == 200
    assert "facwatch_api_requests_total" in metrics.text


def test_401_tells_the_client_to_use_a_bearer_token(world: World) -> None:
    response = world.client.get("/api/v1/alerts")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


# --- the token store ---------------------------------------------------------------------------------


def test_a_created_token_verifies_with_its_name_and_scopes_and_is_stored_only_hashed(world: World) -> None:
    token = world.tokens.create("wang.engineer", ["engineer", "viewer"])
    principal = world.tokens.verify(token)
    assert principal is not None
    assert principal.name == "wang.engineer"
    assert principal.scopes == {Scope.ENGINEER, Scope.VIEWER}
    with world.engine.connect() as conn:
        stored = conn.execute(select(api_tokens).where(api_tokens.c.id == principal.id)).one()
    assert token not in stored.token_hash
    assert len(stored.token_hash) == 64


def test_tokens_are_random_and_long(world: World) -> None:
    tokens = {world.tokens.create("t", ["viewer"]) for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 40 for t in tokens)


def test_revoke_stops_a_token_and_reports_unknown_ids(world: World) -> None:
    token = world.tokens.create("temp", ["viewer"])
    principal = world.tokens.verify(token)
    assert principal is not None
    assert world.tokens.revoke(principal.id) is True
    assert world.tokens.verify(token) is None
    assert world.tokens.revoke(principal.id) is False
    assert world.tokens.revoke("no-such-id") is False
    listed = {info.id: info for info in world.tokens.list()}
    assert listed[principal.id].revoked_at is not None


@pytest.mark.parametrize(
    ("scopes", "error"),
    [
        (["superuser"], "unknown scope"),  # a typo must not create a powerless (or powerful) token
        ([], "at least one scope"),
    ],
)
def test_create_refuses_bad_scopes(world: World, scopes: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        world.tokens.create("x", scopes)


def test_register_keeps_an_operator_chosen_token_once(world: World) -> None:
    first = world.tokens.register("ops", ["admin"], "fixed-admin-token-0123456789")
    again = world.tokens.register("ops", ["admin"], "fixed-admin-token-0123456789")
    assert first == again
    principal = world.tokens.verify("fixed-admin-token-0123456789")
    assert principal is not None and principal.allows(Scope.ENGINEER)


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Scope.ADMIN, Scope.ENGINEER, True),  # admin implies all
        (Scope.ADMIN, Scope.INTEGRATION, True),
        (Scope.VIEWER, Scope.ENGINEER, False),  # a viewer only reads
        (Scope.ENGINEER, Scope.VIEWER, True),  # acting on tickets implies seeing them
        (Scope.MANAGER, Scope.ENGINEER, True),
        (Scope.INTEGRATION, Scope.ENGINEER, True),  # a ticket system updates tickets
        (Scope.ENGINEER, Scope.ADMIN, False),
        (Scope.MANAGER, Scope.ADMIN, False),
    ],
)
def test_scope_grants(held: Scope, needed: Scope, allowed: bool) -> None:
    assert Principal("id", "name", frozenset({held})).allows(needed) is allowed


def test_an_expired_token_is_refused_and_use_is_recorded(world: World) -> None:
    token = world.tokens.create("contractor", ["viewer"], expires_at=world.clock.now() + timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/v1/sites", headers=headers).status_code == 200
    [info] = [i for i in world.tokens.list() if i.name == "contractor"]
    assert info.last_used_at == world.clock.now() and info.expires_at is not None
    world.clock.advance(3601)
    world.tokens._cache.clear()  # another process, or the cache's few seconds later
    assert world.client.get("/api/v1/sites", headers=headers).status_code == 401
    assert not world.tokens.active(info.id)


@pytest.mark.parametrize(
    ("text", "days"), [("90d", 90), ("12h", 0.5), ("8w", 56)], ids=["days", "hours", "weeks"]
)
def test_expiry_durations(text: str, days: float) -> None:
    assert parse_expiry(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "90", "0d", "99999w", "-1d", "1y"])
def test_bad_expiry_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_expiry(text)


def test_the_cli_creates_an_expiring_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from facwatch import cli

    base = ["token", "--data-dir", str(tmp_path)]
    assert cli.main([*base, "create", "contractor", "--scope", "viewer", "--expires", "90d"]) == 0
    assert len(capsys.readouterr().out.strip()) >= 32
    assert cli.main([*base, "list"]) == 0
    listed = capsys.readouterr().out
    assert "contractor" in listed and "expires" in listed and "never used" in listed
    assert cli.main([*base, "create", "x", "--expires", "forever"]) == 2
