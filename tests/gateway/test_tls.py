"""The gateway over TLS against a real Mosquitto, with certificates made for the test (``openssl``).

A trusted broker: the gateway connects with its client certificate and a device's reading lands in the store.
An untrusted one (another CA, or a server name the certificate does not carry): ``start`` fails at once with
a StartupError that says what is wrong with the certificate, instead of retrying until the timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from facwatch.config import MqttSettings, load_site
from facwatch.errors import StartupError
from facwatch.model import Site
from gateway import codec, topics
from gateway.subscriber import Gateway
from ingest.deadletters import DeadLetterStore
from ingest.sqlite_store import SqliteStore
from tests.fixtures.mqtt_tls import Pki, TlsMosquitto, make_pki
from tests.fixtures.servers import find_server
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
            lambda: bool(store.query("lakeside", "b1-elev-1", "floor", 0, sent_ms + 1)),
            10,
            "the reading sent over TLS to be stored",
        )
        [point] = store.query("lakeside", "b1-elev-1", "floor", 0, sent_ms + 1)
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
