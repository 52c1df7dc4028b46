"""A site's MQTT session: the paho client, its connection and subscriptions, and why a broker refused it.

- One persistent session per site (client id ``<prefix>-<site id>``; no clean start; MQTT 5 session expiry
  ``session_expiry_s``), so the broker keeps what arrives while no gateway consumes the site, and a new owner
  of the site takes the session over.
- ``open`` tries MQTT 5 (or the URL's protocol) and falls back to 3.1.1 when the broker refuses, drops or
  ignores an MQTT 5 CONNECT; it returns once subscribed, or raises StartupError after ``start_timeout_s``.
- Subscriptions are made in ``on_connect``, so every reconnect resubscribes; reconnects back off
  exponentially up to 30 s; a broker that refuses the credentials stops the session with a clear error
  (``failure``).
- ``holds`` (a leased site): once this process no longer holds the site, the connection is closed and never
  made again (``release``), also when a paused process resumes and finds its connection taken over: the
  broker keeps the session's unacknowledged messages for the next owner.
- Every message is handed to ``deliver`` with the connection it arrived on (``generation``): an
  acknowledgement only makes sense on the same connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from structlog.typing import FilteringBoundLogger

from facwatch.config import MqttSettings
from facwatch.errors import StartupError
from gateway import topics
from gateway.broker_url import BrokerUrl, Protocol, tls_context, tls_refusal

_UNSUPPORTED_PROTOCOL = 132
_PROBE_S = 2.0
_BAD_CREDENTIALS = {134, 135}  # bad user name or password; not authorised (3.1.1 codes 4 and 5 map here)

Deliver = Callable[[mqtt.MQTTMessage, int], None]
"""Called on paho's network thread with each message and the generation of the connection it came on."""


def client_id(settings: MqttSettings, site: str) -> str:
    """The MQTT client id of a site's session: ``<client_id prefix>-<site id>`` (the same in every process, so a
    new owner of the site takes the session over and receives what the broker kept for it)."""
    return f"{settings.client_id}-{site}"


class Session:
    """One paho client and the events that ``open`` waits on."""

    def __init__(self, client: mqtt.Client, protocol: Protocol) -> None:
        self.client = client
        self.protocol = protocol
        self.subscribed = threading.Event()
        self.refused = threading.Event()
        self.refusal = ""
        self.refusal_code = 0
        self.socket_open = False
        self.answered = False


class Connector:
    """Opens a site's session on the broker and answers paho's callbacks for it."""

    def __init__(
        self,
        settings: MqttSettings,
        site: str,
        url: BrokerUrl,
        *,
        deliver: Deliver,
        closing: threading.Event,
        log: FilteringBoundLogger,
        start_timeout_s: float,
        session_expiry_s: int,
        keepalive_s: int,
        holds: Callable[[], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._site = site
        self._url = url
        self._deliver = deliver
        self._closing = closing
        self._log = log
        self._start_timeout_s = start_timeout_s
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._holds = holds
        self.client_id = client_id(settings, site)
        self.generation = 0
        """Connections made so far (the current one's number)."""
        self.failure: str | None = None
        """Why the session stopped on its own (the broker refused the credentials), else None."""
        self.released = False
        """The site is no longer held here: the connection was closed for good."""
        self.declined = 0
        """Reconnects not made because the site is no longer held here."""

    def release(self, client: mqtt.Client) -> None:
        """Close the connection and make no other (paho's loop ends after a disconnect of ours)."""
        if not self.released:
            self.released = True
            self._log.warning("mqtt.released", reason="the site is no longer held by this process")
        client.disconnect()

    def _not_held(self) -> bool:
        return self.released or (self._holds is not None and not self._holds())

    def open(self) -> Session:
        """Connect and subscribe; returns once subscribed. Raises StartupError after ``start_timeout_s``."""
        wanted = self._url.protocol
        session = self._connect("5" if wanted == "auto" else wanted, probe=wanted == "auto")
        if session.refusal_code == _UNSUPPORTED_PROTOCOL and wanted == "auto":
            self._log.info("mqtt.fallback", reason="broker refused MQTT 5, using 3.1.1")
            session = self._connect("3.1.1")
        if not session.subscribed.is_set():
            raise StartupError(f"MQTT broker {self._url}: {session.refusal or 'could not subscribe'}")
        return session

    def _connect(self, protocol: Protocol, probe: bool = False) -> Session:
        """Connect and wait until subscribed or refused. ``probe``: an MQTT 5 attempt that may fall back."""
        v5 = protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        session = Session(client, protocol)
        if self._settings.username is not None:
            # ``{site}`` in the user name: one broker user per site, for brokers that make the user name the
            # client id (Mosquitto's use_username_as_clientid), where sites sharing a user would share a session.
            username = self._settings.username.replace("{site}", self._site)
            client.username_pw_set(username, self._settings.password)
        if self._url.tls:
            settings = self._settings
            context = tls_context(
                settings.ca_file, settings.cert_file, settings.key_file, settings.server_name
            )
            refusal = tls_refusal(self._url, context, min(5.0, self._start_timeout_s))
            if refusal is not None:
                session.refusal = refusal
                session.refused.set()
                return session
            client.tls_set_context(context)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_pre_connect = self._on_pre_connect
        client.on_socket_open = lambda _client, _session, _sock: setattr(session, "socket_open", True)
        client.user_data_set(session)
        properties: Properties | None = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry_s
            properties.ReceiveMaximum = min(65_535, max(self._settings.queue_size, self._settings.batch_size))
        client.connect_async(
            self._url.host,
            self._url.port,
            keepalive=self._keepalive_s,
            clean_start=False,
            properties=properties,
        )
        client.loop_start()
        started = time.monotonic()
        deadline = started + self._start_timeout_s
        while time.monotonic() < deadline and not (session.subscribed.is_set() or session.refused.is_set()):
            session.subscribed.wait(0.05)
            if (
                probe
                and session.socket_open
                and not session.answered
                and time.monotonic() > started + _PROBE_S
            ):
                # Some MQTT 3.1.1 brokers (amqtt) neither answer an MQTT 5 CONNECT nor close: fall back.
                session.refusal = f"no CONNACK to MQTT 5 within {_PROBE_S:g} s"
                session.refusal_code = _UNSUPPORTED_PROTOCOL
                break
        if not session.subscribed.is_set():
            if not session.refused.is_set():
                session.refusal = f"no answer within {self._start_timeout_s:g} s"
            client.disconnect()
            client.loop_stop()
        return session

    def _on_connect(
        self, client: mqtt.Client, session: Session, flags: Any, reason: Any, properties: Any
    ) -> None:
        session.answered = True
        if reason.is_failure:
            code = int(reason.value)
            session.refusal, session.refusal_code = f"connection refused: {reason}", code
            starting = not session.subscribed.is_set()
            if code in _BAD_CREDENTIALS or (code == _UNSUPPORTED_PROTOCOL and starting):
                # Retrying cannot help: stop the loop (start() reports it; at runtime the gateway stops).
                session.refused.set()
                client.disconnect()
                if not starting:
                    self.failure = session.refusal
                    self._log.error("gateway.refused", reason=str(reason))
            else:
                self._log.warning("mqtt.connect_refused", reason=str(reason))
            return
        if self._not_held():
            self.release(client)  # reconnected after a pause past the lease: leave the session to the owner
            return
        self.generation += 1
        filters = [(f, 1) for f in topics.subscriptions(self._site)]
        client.subscribe(filters)
        self._log.info("mqtt.connected", session_present=bool(flags.session_present))

    def _on_subscribe(
        self, client: mqtt.Client, session: Session, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            session.refusal = f"subscription refused: {', '.join(failed)}"
            session.refused.set()
            self._log.error("mqtt.subscribe_refused", reasons=failed)
            return
        session.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, session: Session, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not session.subscribed.is_set() and session.protocol == "5" and not session.refused.is_set():
            # Some MQTT 3.1.1 brokers (amqtt) drop an MQTT 5 CONNECT without answering: let start() fall back.
            session.refusal = f"connection closed before CONNACK: {reason}"
            session.refusal_code = _UNSUPPORTED_PROTOCOL
            session.refused.set()
            client.disconnect()
        elif self._not_held():
            self.release(client)  # no reconnect: the session's next connection is the new owner's
        elif not self._closing.is_set() and session.subscribed.is_set():
            self._log.warning("mqtt.disconnected", reason=str(reason))

    def _on_pre_connect(self, client: mqtt.Client, session: Session) -> None:
        if self._not_held():
            self.declined += 1
            # paho counts an OSError as a failed attempt and backs off: no CONNECT reaches the broker, so the
            # new owner keeps the session (a disconnect made in on_disconnect would not stop the reconnect)
            raise OSError("the site is no longer held by this process")

    def _on_message(self, client: mqtt.Client, session: Session, message: mqtt.MQTTMessage) -> None:
        self._deliver(message, self.generation)


__all__ = ["Connector", "Deliver", "Session", "client_id"]
