"""The gateway over TLS against a real Mosquitto, with certificates made for the test (``openssl``).

A trusted broker: the gateway connects with its client certificate and a device's reading lands in the store.
An untrusted one (another CA, or a server name the certificate does not carry): ``start`` fails at once with
a StartupError that says what is wrong with the certificate, instead of retrying until the timeout.
"""

from __future__ import annotations

import getpass
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.cli import main
from facwatch.config import MqttSettings, load_site
from facwatch.errors import StartupError
from facwatch.model import Site, TelemetryQuery
from gateway import codec, topics
from gateway.broker_config import read_credentials
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.sqlite_store import SqliteStore
from tests.fixtures.mqtt_tls import Pki, TlsMosquitto, make_pki
from tests.fixtures.servers import find_server, free_port, stop_process, wait_for_port
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration

SITE: Site = load_site("demo", {"data_dir": "unused"})
ELEV = topics.telemetry("lakeside", "elevator", "b1-elev-1")


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsMosquitto]:
    binary = find_server("mosquitto", "/usr/sbin/mosquitto")
    workdir = tmp_path / "mosquitto-tls"
    workdir.mkdir()
    broker = TlsMosquitto(binary=binary, workdir=workdir, pki=make_pki(tmp_path / "pki"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, DeadLetterStore]]:
    store = SqliteStore(tmp_path / "telemetry.db", synchronous="NORMAL")
    letters = DeadLetterStore(tmp_path / "telemetry.db", synchronous="NORMAL")
    yield store, letters
    store.close()
    letters.close()


def gateway_for(broker: TlsMosquitto, stores: tuple[SqliteStore, DeadLetterStore], **tls: object) -> Gateway:
    settings = MqttSettings(url=broker.url, client_id=f"fw-tls-{broker.port}", **tls)  # type: ignore[arg-type]
    return Gateway(settings, SITE, stores[0], stores[1], start_timeout_s=10)


def client_files(pki: Pki) -> dict[str, object]:
    return {"ca_file": pki.ca, "cert_file": pki.client_cert, "key_file": pki.client_key}


def test_trusted_broker_with_client_certificate_delivers_readings(
    tls_broker: TlsMosquitto, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    gateway = gateway_for(tls_broker, stores, **client_files(tls_broker.pki))
    gateway.start()
    device = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pki = tls_broker.pki
    device.tls_set(ca_certs=str(pki.ca), certfile=str(pki.client_cert), keyfile=str(pki.client_key))
    device.connect(tls_broker.host, tls_broker.port)
    device.loop_start()
    try:
        sent_ms = int(time.time() * 1000)
        device.publish(ELEV, codec.encode(sent_ms, {"floor": 7}), qos=1).wait_for_publish(10)
        store = stores[0]
        wait_until(
            lambda: bool(store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", 0, sent_ms + 1))),
            10,
            "the reading sent over TLS to be stored",
        )
        [point] = store.query(TelemetryQuery("lakeside", "b1-elev-1", "floor", 0, sent_ms + 1))
        assert point.ts_ms == sent_ms
        assert gateway.connected and gateway.protocol == "5"
    finally:
        device.disconnect()
        device.loop_stop()
        gateway.stop()


def test_broker_signed_by_another_ca_is_refused_at_once_with_the_reason(
    tls_broker: TlsMosquitto, stores: tuple[SqliteStore, DeadLetterStore], tmp_path: Path
) -> None:
    stranger = make_pki(tmp_path / "other-pki", ca_name="someone else's CA")
    files = client_files(tls_broker.pki) | {"ca_file": stranger.ca}
    gateway = gateway_for(tls_broker, stores, **files)
    started = time.monotonic()
    with pytest.raises(StartupError) as refused:
        gateway.start()
    assert time.monotonic() - started < 5, "refused at once, not after the start timeout"
    message = str(refused.value)
    assert tls_broker.url in message
    assert "certificate is not trusted" in message
    # OpenSSL's own words: Mosquitto sends its CA along, so the chain ends in a CA we do not trust.
    assert "self-signed certificate in certificate chain" in message


def test_server_name_is_the_name_checked_against_the_certificate(
    tls_broker: TlsMosquitto, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    files = client_files(tls_broker.pki)
    with pytest.raises(StartupError, match=r"Hostname mismatch.*broker\.example\.net"):
        gateway_for(tls_broker, stores, **files, server_name="broker.example.net").start()
    gateway = gateway_for(tls_broker, stores, **files, server_name="localhost")
    gateway.start()
    try:
        assert gateway.connected
    finally:
        gateway.stop()


def test_server_name_lets_the_gateway_reach_a_broker_by_an_address_its_certificate_lacks(
    tmp_path: Path, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    workdir = tmp_path / "named"
    workdir.mkdir()
    pki = make_pki(tmp_path / "named-pki", server_names="DNS:broker.facwatch.test")
    broker = TlsMosquitto(binary=find_server("mosquitto", "/usr/sbin/mosquitto"), workdir=workdir, pki=pki)
    broker.start()
    try:
        with pytest.raises(StartupError, match=r"IP address mismatch.*127\.0\.0\.1"):
            gateway_for(broker, stores, **client_files(pki)).start()
        # paho's own connection must send and check the same name, or it could not subscribe.
        gateway = gateway_for(broker, stores, **client_files(pki), server_name="broker.facwatch.test")
        gateway.start()
        try:
            assert gateway.connected
        finally:
            gateway.stop()
    finally:
        broker.stop()


def test_missing_or_unusable_files_are_startup_errors_naming_them(
    tls_broker: TlsMosquitto, stores: tuple[SqliteStore, DeadLetterStore], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(StartupError, match=re.escape(f"ca_file '{missing}' cannot be read")):
        gateway_for(tls_broker, stores, ca_file=missing).start()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(StartupError, match=re.escape(f"ca_file '{junk}' holds no usable CA certificate")):
        gateway_for(tls_broker, stores, ca_file=junk).start()
    wrong_key = client_files(tls_broker.pki) | {"key_file": tls_broker.pki.server_key}
    with pytest.raises(StartupError, match=r"cert_file '.*client.crt' and key_file '.*server.key'"):
        gateway_for(tls_broker, stores, **wrong_key).start()


def shipped_conf(tmp_path: Path, pki: Pki, clear_port: int, tls_port: int) -> Path:
    """deploy/mosquitto.conf with its ports and paths moved into ``tmp_path`` (nothing else changed)."""
    text = (Path(__file__).parents[2] / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    moves = {
        "listener 1883 127.0.0.1": f"listener {clear_port} 127.0.0.1",
        "listener 8883 0.0.0.0": f"listener {tls_port} 127.0.0.1",
        "/etc/mosquitto/ca_certificates/facwatch-ca.crt": str(pki.ca),
        "/etc/mosquitto/certs/broker.crt": str(pki.server_cert),
        "/etc/mosquitto/certs/broker.key": str(pki.server_key),
        "/etc/mosquitto/facwatch.": str(tmp_path / "facwatch."),
        "/var/lib/mosquitto/": f"{tmp_path}/",
    }
    for shipped, here in moves.items():
        assert shipped in text, f"deploy/mosquitto.conf no longer has {shipped!r}"
        text = text.replace(shipped, here)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(text + f"user {getpass.getuser()}\nlog_dest stderr\n", encoding="utf-8")
    return conf


class Device:
    """A device on the TLS listener with its own user name and password, and a client id of its choice."""

    def __init__(self, port: int, ca: Path, user: str, password: str, client_id: str) -> None:
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, password)
        self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.connected.is_set, 10, f"{user} connected over TLS")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_shipped_mosquitto_conf_serves_tls_and_one_device_cannot_kick_another_off(
    tmp_path: Path, stores: tuple[SqliteStore, DeadLetterStore]
) -> None:
    pki = make_pki(tmp_path / "pki")
    assert main(["broker-config", "--site", "demo", "--out", str(tmp_path)]) == 0
    creds = read_credentials(tmp_path / "credentials.txt")
    clear_port, tls_port = free_port(), free_port()
    conf = shipped_conf(tmp_path, pki, clear_port, tls_port)
    binary = find_server("mosquitto", "/usr/sbin/mosquitto")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=(tmp_path / "mosquitto.log").open("wb"))
    devices: list[Device] = []
    gateway: Gateway | None = None
    try:
        wait_for_port(tls_port, timeout=10)
        settings = MqttSettings(
            url=f"mqtts://127.0.0.1:{tls_port}",
            username="facwatch-gateway",
            password=creds["facwatch-gateway"],
            ca_file=pki.ca,
        )
        gateway = Gateway(settings, SITE, stores[0], stores[1], start_timeout_s=10)
        gateway.start()
        elev1, elev2 = [a.id for a in SITE.assets if a.kind == "elevator"][:2]
        device = Device(tls_port, pki.ca, elev1, creds[elev1], client_id="anything")
        devices.append(device)
        # Another device's credentials with this device's client id: the broker uses the user name as the
        # client id, so this is a different session and the first device stays connected.
        devices.append(Device(tls_port, pki.ca, elev2, creds[elev2], client_id="anything"))
        sent_ms = int(time.time() * 1000)
        topic = topics.telemetry(SITE.id, "elevator", elev1)
        device.client.publish(topic, codec.encode(sent_ms, {"floor": 3}), qos=1).wait_for_publish(10)
        wait_until(
            lambda: bool(stores[0].query(TelemetryQuery(SITE.id, elev1, "floor", sent_ms, sent_ms + 1))),
            10,
            "the first device's reading to be stored after the second device connected",
        )
        assert not device.disconnected.is_set()
    finally:
        for d in devices:
            d.close()
        if gateway is not None:
            gateway.stop()
        stop_process(proc)
