"""Every list route of the OpenAPI pages the same way: ``limit`` bounded, made-up cursors refused, and
``next`` walks every item once. Generated from ``/openapi.json``, so a new list cannot skip it."""

from __future__ import annotations

from typing import Any

import pytest

from facwatch.model import Level
from tests.api.conftest import World
from tests.api.fakes import T0, dead_letter


def _list_routes(world: World) -> list[str]:
    spec = world.client.get("/openapi.json").json()
    routes = []
    for path, ops in spec["paths"].items():
        get = ops.get("get")
        if get is None:
            continue
        schema = get["responses"]["200"].get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref", "")
        props = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if {"items", "next"} <= set(props):
            routes.append(path)
    return sorted(routes)


def _populate(world: World) -> dict[str, str]:
    """Three items in every list; the path values that reach them."""
    for i in range(3):
        world.alerts.add_incident("b1-elev-1", Level.RED, T0)
        world.dead_letters.letters.append(dead_letter(i))
    hooks = []
    for i in range(3):
        body = {"url": f"http://127.0.0.1:9/{i}", "events": ["alert"]}
        hooks.append(world.client.post("/api/v1/webhooks", json=body, headers=world.auth()).json()["id"])
    world.bus.publish("alert", {"id": "A1"}, T0)
    world.bus.publish("alert", {"id": "A2"}, T0)
    world.bus.publish("alert", {"id": "A3"}, T0)
    return {"webhook_id": hooks[0]}


def test_the_lists_are_the_ones_we_know(world: World) -> None:
    assert _list_routes(world) == [
        "/api/v1/alerts",
        "/api/v1/assets",
        "/api/v1/dead-letters",
        "/api/v1/sites",
        "/api/v1/tickets",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhook_id}/deliveries",
    ]


def _url(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"cursor": "not-ours"}])
def test_every_list_refuses_bad_paging_with_422(world: World, params: dict[str, Any]) -> None:
    values = _populate(world)
    for path in _list_routes(world):
        response = world.client.get(_url(path, values), params=params, headers=world.auth())
        assert response.status_code == 422, f"{path} {params}: {response.status_code}"


def test_every_list_walks_all_items_once_with_next(world: World) -> None:
    values = _populate(world)
    for path in _list_routes(world):
        url = _url(path, values)
        everything = world.client.get(url, params={"limit": 1000}, headers=world.auth()).json()
        assert everything["next"] is None, path
        seen: list[Any] = []
        cursor = None
        for _ in range(100):
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = world.client.get(url, params=params, headers=world.auth()).json()
            assert len(page["items"]) <= 2, path
            seen += page["items"]
            cursor = page["next"]
            if cursor is None:
                break
        key = "id" if everything["items"] and "id" in everything["items"][0] else "topic"
        assert [i.get(key) for i in seen] == [i.get(key) for i in everything["items"]], path
        assert everything["items"], f"{path} listed nothing: populate it"
