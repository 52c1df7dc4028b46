"""Broker URLs: ``mqtt://host[:port][?protocol=5|3.1.1|auto]`` and ``mqtts://`` (TLS, port 8883 by default).

``protocol=auto`` (the default) tries MQTT 5 and falls back to 3.1.1 when the broker refuses version 5
(the embedded amqtt broker speaks 3.1.1 only).

With ``mqtts://``, ``tls_context`` builds the TLS settings from ``[mqtt]`` ``ca_file``, ``cert_file``,
``key_file`` and ``server_name`` (docs/operations.md, "MQTT over TLS"), and ``tls_refusal`` tries one
handshake so that a certificate the gateway cannot trust stops it at once with the reason, instead of
paho retrying in the background until the start timeout.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from facwatch.errors import StartupError
from gateway.errors import BrokerUrlError

Protocol = Literal["5", "3.1.1", "auto"]
_PROTOCOLS: dict[str, Protocol] = {"5": "5", "3.1.1": "3.1.1", "auto": "auto", "311": "3.1.1"}


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    protocol: Protocol

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise BrokerUrlError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL has no host: {url!r}")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerUrlError(f"broker URL has a bad port: {url!r}") from None
    wanted = parse_qs(parts.query).get("protocol", ["auto"])[-1]
    if wanted not in _PROTOCOLS:
        raise BrokerUrlError(f"protocol must be 5, 3.1.1 or auto, got {wanted!r}")
    return BrokerUrl(host=parts.hostname, port=port, tls=tls, protocol=_PROTOCOLS[wanted])


class _NamedContext(ssl.SSLContext):
    """A context that sends (and checks) a fixed server name whatever host paho connects to."""

    server_name: str | None = None

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if self.server_name is not None:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)


def _readable(setting: str, path: Path) -> None:
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise StartupError(f"[mqtt] {setting} {str(path)!r} cannot be read: {exc.strerror or exc}") from None


def tls_context(
    ca_file: Path | None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    server_name: str | None = None,
) -> ssl.SSLContext:
    """The TLS settings of an ``mqtts://`` connection; a missing or unusable file is a StartupError naming it."""
    if key_file is not None and cert_file is None:
        raise StartupError("[mqtt] key_file is set but cert_file is not: set both for a client certificate")
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = server_name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is None:
        context.load_default_certs()
    else:
        _readable("ca_file", ca_file)
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except ssl.SSLError as exc:
            raise StartupError(
                f"[mqtt] ca_file {str(ca_file)!r} holds no usable CA certificate: {exc}"
            ) from None
    if cert_file is not None:
        _readable("cert_file", cert_file)
        if key_file is not None:
            _readable("key_file", key_file)
        try:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except ssl.SSLError as exc:
            names = f"{str(cert_file)!r}" + (f" and key_file {str(key_file)!r}" if key_file else "")
            raise StartupError(f"[mqtt] cert_file {names}: not a certificate and its key ({exc})") from None
    return context


def tls_refusal(url: BrokerUrl, context: ssl.SSLContext, timeout_s: float) -> str | None:
    """One TLS handshake with the broker: why its certificate is not trusted, else None.

    Only certificate problems are answered; a broker that cannot be reached is left to paho's retries.
    """
    try:
        with (
            socket.create_connection((url.host, url.port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=url.host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return f"TLS: the broker's certificate is not trusted: {exc.verify_message or exc.reason}"
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or exc}"
    except OSError:
        return None
