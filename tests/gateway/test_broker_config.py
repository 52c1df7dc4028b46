"""`facwatch broker-config` against a real Mosquitto: devices publish only their own topics, read nothing."""

from __future__ import annotations

import base64
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.cli import main
from facwatch.config import load_site
from gateway import codec, topics
from gateway.broker_config import password_line, read_credentials
from tests.fixtures.servers import find_server, free_port, wait_for_port

SITE = load_site("demo", {"data_dir": "unused"})
ELEV1, ELEV2 = [a for a in SITE.assets if a.kind == "elevator"][:2]


def test_password_line_matches_mosquittos_pbkdf2_sha512_format() -> None:
    # A line made by `mosquitto_passwd -b` (mosquitto 2.0.11) for dev1 / secret.
    made = "dev1:$7$101$dX3p6/1yeagni/zx$lpsc8RFRREJ3bM+qru1P9o2zzTvV18L5HVZ+vZlroZZE0R8X34R5c6fP40f9BCsA6yiUBuHe8Px9mHu1HrZWoQ=="
    salt = base64.b64decode("dX3p6/1yeagni/zx")
    assert password_line("dev1", "secret", salt) == made


def test_running_it_again_keeps_existing_passwords(tmp_path: Path) -> None:
    assert main(["broker-config", "--site", "demo", "--out", str(tmp_path)]) == 0
    first = read_credentials(tmp_path / "credentials.txt")
    assert main(["broker-config", "--site", "demo", "--out", str(tmp_path)]) == 0
    assert read_credentials(tmp_path / "credentials.txt") == first
    assert set(first) == {"facwatch-gateway", *(a.id for a in SITE.assets)}
    assert (tmp_path / "credentials.txt").stat().st_mode & 0o077 == 0


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    binary = find_server("mosquitto", "/usr/sbin/mosquitto")
    assert main(["broker-config", "--site", "demo", "--out", str(tmp_path)]) == 0
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {tmp_path / 'facwatch.passwd'}\nacl_file {tmp_path / 'facwatch.acl'}\n"
        # As root, Mosquitto would drop to the mosquitto user, which cannot read these 0600 files.
        "user root\npersistence false\nlog_dest stderr\nlog_type error\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=(tmp_path / "log").open("wb"))
    try:
        wait_for_port(port)
        yield port, read_credentials(tmp_path / "credentials.txt")
    finally:
        proc.terminate()
        proc.wait(10)


class Client:
    def __init__(self, port: int, user: str, password: str) -> None:
        self.received: list[str] = []
        self.granted: list[int] = []
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self.refused: int | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda _c, _u, m: self.received.append(m.topic)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10)

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.refused = int(reason.value) if reason.is_failure else None  # type: ignore[attr-defined]
        self.connected.set()

    def _on_subscribe(self, _c: object, _u: object, _m: object, reasons: list[object], _p: object) -> None:
        self.granted = [int(r.value) for r in reasons]  # type: ignore[attr-defined]
        self.subscribed.set()

    def subscribe(self, topic: str) -> list[int]:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)
        return self.granted

    def publish(self, topic: str) -> None:
        payload = codec.encode(int(time.time() * 1000), {"floor": 1})
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
def test_devices_publish_only_their_own_topics_and_the_gateway_reads_all(
    secured: tuple[int, dict[str, str]],
) -> None:
    port, creds = secured
    gateway = Client(port, "facwatch-gateway", creds["facwatch-gateway"])
    assert gateway.subscribe(f"fw/{SITE.id}/#") == [1]
    dev1 = Client(port, ELEV1.id, creds[ELEV1.id])
    own = topics.telemetry(SITE.id, "elevator", ELEV1.id)
    other = topics.telemetry(SITE.id, "elevator", ELEV2.id)
    dev1.publish(other)  # spoofing another asset: the broker drops it
    dev1.publish(own)
    deadline = time.monotonic() + 10
    while own not in gateway.received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.received == [own]  # the own message arrived, the spoofed one (sent first) never did
    # Mosquitto 2 grants a wildcard subscription and checks read access per message: nothing may arrive.
    dev1.subscribe("#")
    dev2 = Client(port, ELEV2.id, creds[ELEV2.id])
    dev2.publish(other)
    dev1.publish(own)
    gateway.publish(
        topics.alerts(SITE.id, ELEV1.id)
    )  # the gateway may publish alerts, devices can't read them
    deadline = time.monotonic() + 10
    while len(gateway.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(gateway.received) == sorted([own, own, other, topics.alerts(SITE.id, ELEV1.id)])
    time.sleep(0.5)  # give a wrongly routed message time to arrive too
    assert dev1.received == []
    wrong = Client(port, ELEV1.id, "not-the-password")
    assert wrong.refused is not None
    for c in (gateway, dev1, dev2, wrong):
        c.close()
