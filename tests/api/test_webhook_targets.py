"""Webhook targets under abuse: inside addresses refused in all their spellings (at registration and again
at connect time), a subscription is its owner's, and a receiver that never answers delays no other."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.targets import TargetPolicy, TargetRefused, check_url, pin
from tests.api.conftest import World
from tests.api.fakes import T0
from tests.fixtures.receivers import HttpReceiver, StuckReceiver
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

INSIDE = [
    "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "https://[::1]:8443/hook",  # IPv6 loopback
    "https://0x7f000001:8000/hook",  # loopback in hex
    "https://2130706433:8000/hook",  # loopback as a decimal int
    "https://0177.0.0.1/hook",  # loopback in octal
    "https://127.1/hook",  # loopback, short form
    "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "https://[::ffff:a9fe:a9fe]/hook",  # the metadata address, mapped
    "https://[fe80::1]/hook",  # IPv6 link-local
    "https://10.0.0.5/hook",  # private
    "https://192.168.1.1/hook",  # private
    "https://172.16.0.1/hook",  # private
    "https://100.100.100.200/hook",  # shared address space (another cloud's metadata)
    "https://0.0.0.0/hook",  # unspecified
    "https://[fd00:ec2::254]/hook",  # unique-local (a metadata address)
    "https://localhost:8000/hook",  # a name that resolves to loopback
]


def _names(host: str, port: int) -> list[str]:
    """A resolver that knows two names: one public, one that leads inside."""
    return {"tickets.example.com": ["93.184.216.34"], "rebind.example.com": ["127.0.0.1"]}.get(host, [])


@pytest.mark.parametrize("url", INSIDE)
def test_inside_addresses_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, TargetPolicy(allow_http=True))


@pytest.mark.parametrize(
    ("url", "policy", "refused"),
    [
        ("https://tickets.example.com/hook", TargetPolicy(), False),  # public name
        ("https://93.184.216.34/hook", TargetPolicy(), False),  # public address
        ("http://tickets.example.com/hook", TargetPolicy(), True),  # plain http is off by default
        ("http://tickets.example.com/hook", TargetPolicy(allow_http=True), False),  # unless allowed
        ("https://rebind.example.com/hook", TargetPolicy(), True),  # a name that resolves inside
        ("https://user:pw@tickets.example.com/hook", TargetPolicy(), True),  # credentials in the URL
        ("ftp://tickets.example.com/hook", TargetPolicy(), True),  # not http(s)
        ("https://10.20.1.5/hook", TargetPolicy(allow=("10.20.0.0/16",)), False),  # on-premises, allowed
        ("https://10.21.1.5/hook", TargetPolicy(allow=("10.20.0.0/16",)), True),  # next to it: not
        ("https://rebind.example.com/hook", TargetPolicy(allow=("rebind.example.com",)), False),  # by name
    ],
)
def test_the_policy_table(url: str, policy: TargetPolicy, refused: bool) -> None:
    if refused:
        with pytest.raises(TargetRefused):
            check_url(url, policy, _names)
    else:
        assert check_url(url, policy, _names).host


def test_connect_time_pins_the_checked_address() -> None:
    target, address = pin("https://tickets.example.com/hook", TargetPolicy(), _names)
    assert (target.host, target.port, address) == ("tickets.example.com", 443, "93.184.216.34")
    with pytest.raises(TargetRefused):
        pin("https://rebind.example.com/hook", TargetPolicy(), _names)
    with pytest.raises(TargetRefused, match="does not resolve"):
        pin("https://nowhere.example.com/hook", TargetPolicy(), _names)


@pytest.fixture
def strict(world: World) -> Iterator[TestClient]:
    """The same services behind an app with the default policy (public https only, http allowed)."""
    app = create_app(world.app.state.services, webhook_targets=TargetPolicy(allow_http=True))
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("url", [u.replace("https://", "http://") for u in INSIDE])
def test_the_api_refuses_inside_targets(world: World, strict: TestClient, url: str) -> None:
    response = strict.post(
        "/api/v1/webhooks", json={"url": url, "events": ["alert"]}, headers=world.auth("integration")
    )
    assert response.status_code == 422, response.text
    assert "inside the network" in response.text or "credentials" in response.text


def _subscribe(world: World, url: str, scope_token: dict[str, str]) -> dict[str, Any]:
    response = world.client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["alert"]}, headers=scope_token
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_subscription_is_its_owners(world: World) -> None:
    admin_hook = _subscribe(world, "http://127.0.0.1:9/admin", world.auth("admin"))
    other = {"Authorization": f"Bearer {world.tokens.create('another-system', ['integration'])}"}
    mine = _subscribe(world, "http://127.0.0.1:9/mine", other)
    listed = world.client.get("/api/v1/webhooks", headers=other).json()["items"]
    assert [h["id"] for h in listed] == [mine["id"]]
    for method, path in (
        ("GET", f"/api/v1/webhooks/{admin_hook['id']}"),
        ("GET", f"/api/v1/webhooks/{admin_hook['id']}/deliveries"),
        ("DELETE", f"/api/v1/webhooks/{admin_hook['id']}"),
    ):
        assert world.client.request(method, path, headers=other).status_code == 404, (method, path)
    everyone = world.client.get("/api/v1/webhooks", headers=world.auth("admin")).json()["items"]
    assert {h["id"] for h in everyone} == {admin_hook["id"], mine["id"]}
    assert (
        world.client.delete(f"/api/v1/webhooks/{mine['id']}", headers=world.auth("admin")).status_code == 204
    )


def test_an_allowed_target_removed_from_the_allow_list_is_refused_at_connect_time(
    world: World, http_receiver: HttpReceiver
) -> None:
    hook = _subscribe(world, http_receiver.http_url, world.auth("integration"))
    world.app.state.webhooks.policy = TargetPolicy(allow_http=True)  # the operator narrows the allow-list
    world.bus.publish("alert", {"id": "A1"}, T0)
    path = f"/api/v1/webhooks/{hook['id']}/deliveries"

    def refused() -> bool:
        items = world.client.get(path, headers=world.auth("integration")).json()["items"]
        return bool(items) and "inside the network" in (items[0]["last_error"] or "")

    wait_until(refused, 10, "the delivery refused at connect time")
    assert http_receiver.received == []


def test_six_hanging_webhooks_do_not_delay_a_healthy_one(
    world: World, hanging_receiver: StuckReceiver, http_receiver: HttpReceiver
) -> None:
    hanging = hanging_receiver.url.replace("json://", "http://")
    for n in range(6):
        _subscribe(world, f"{hanging}hook-{n}", world.auth("integration"))
    world.bus.publish("alert", {"id": "A-first"}, T0)
    hanging_receiver.wait_for(2, timeout=10)  # the hanging host holds its two slots
    healthy = _subscribe(world, http_receiver.http_url, world.auth("integration"))
    sent = time.monotonic()
    world.bus.publish("alert", {"id": "A-second"}, T0)
    wait_until(lambda: len(http_receiver.received) >= 1, 5, "the healthy webhook's delivery")
    delay = time.monotonic() - sent
    print(f"\nthe healthy webhook beside six hanging ones: delivered after {delay * 1000:.0f} ms")
    assert http_receiver.received[0]["data"]["id"] == "A-second"
    assert delay < 2.0, f"the healthy webhook waited {delay:.2f} s"
    assert healthy["id"]


def test_redirects_are_not_followed(world: World, http_receiver: HttpReceiver) -> None:
    """A receiver that answers 302 towards another address gets a failed attempt, not a forwarded POST."""
    port = free_port()

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(302)
            self.send_header("Location", http_receiver.http_url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Redirect)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        hook = _subscribe(world, f"http://127.0.0.1:{port}/hook", world.auth("integration"))
        world.bus.publish("alert", {"id": "A-redirect"}, T0)
        path = f"/api/v1/webhooks/{hook['id']}/deliveries"

        def attempted() -> bool:
            items = world.client.get(path, headers=world.auth("integration")).json()["items"]
            return bool(items) and items[0]["last_status"] == 302

        wait_until(attempted, 10, "the redirected attempt in the log")
        [entry] = world.client.get(path, headers=world.auth("integration")).json()["items"]
        assert entry["status"] == "pending"  # a failed attempt, retried later
        assert http_receiver.received == []
    finally:
        server.shutdown()
        server.server_close()
