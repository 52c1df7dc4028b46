"""The MQTT subscriber: paho-mqtt's network thread enqueues, a worker validates, judges, stores, then acknowledges.

    broker ─► network thread ─► bounded queue ─► judge worker: validate ─► on_batch
                                                      ─► hand-off ─► storer: sink ─► dead letters ─► ack

- Detection first, storage second, acknowledgement last: ``on_batch`` (the alert engine's judge, which
  runs the rules in memory and puts the findings in a durable queue) sees a batch before the sink does, so
  readings already received are judged even while the store and the spool cannot take them; storage
  problems back-pressure the broker, never the rules. Two threads: the judge runs ahead of the storer by
  up to ``queue_size`` messages (``gateway/handoff.py``), and the broker's in-flight window (MQTT 5
  Receive Maximum = ``queue_size``; Mosquitto's ``max_inflight_messages`` for MQTT 3.1.1) lets that many
  unacknowledged messages arrive. An ``on_batch`` that raises is logged and counted
  (an engine bug must not stop the data path); it is expected to keep its findings durable itself.
- At least once: a message is acknowledged (``manual_ack``) only after ``on_batch`` returned, its readings
  are durable in the sink and its dead letters are kept. A failing sink is retried with backoff and nothing is acknowledged
  meanwhile; the persistent session (a client id per site, ``<prefix>-<site id>``; no clean start; MQTT 5
  session expiry ``session_expiry_s``) makes the broker redeliver whatever was not acknowledged when the
  gateway went away, and keep what arrives while no gateway consumes the site. The store's writes are idempotent, so redelivery is safe.
- Back-pressure: the network thread blocks on the full queue, stops reading the socket, and the broker
  holds the messages. Nothing is dropped. (A sink stalled for longer than 1.5 × keepalive gets the
  connection closed by the broker; the gateway reconnects and the broker redelivers.)
- Subscriptions are made in ``on_connect``, so every reconnect resubscribes; reconnects back off
  exponentially up to 30 s; a broker that refuses the credentials stops the gateway with a clear error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from facwatch.clock import Clock, WallClock
from facwatch.config import MqttSettings
from facwatch.errors import StartupError
from facwatch.model import DeadLetter, DeadLetterSink, Finding, Reading, ReadingSink, Site, ms_from_utc
from gateway import metrics, topics
from gateway.broker_url import BrokerUrl, Protocol, parse_broker_url, tls_context, tls_refusal
from gateway.errors import NotRunning
from gateway.handoff import Handoff
from gateway.presence import AssetPresence, PresenceTracker
from gateway.validate import Validator

log = structlog.get_logger("facwatch.gateway")

_UNSUPPORTED_PROTOCOL = 132
_PROBE_S = 2.0
_BAD_CREDENTIALS = {134, 135}  # bad user name or password; not authorised (3.1.1 codes 4 and 5 map here)
_STREAMS = {stream.value for stream in topics.Stream}


def client_id(settings: MqttSettings, site: str) -> str:
    """The MQTT client id of a site's session: ``<client_id prefix>-<site id>`` (the same in every process, so a
    new owner of the site takes the session over and receives what the broker kept for it)."""
    return f"{settings.client_id}-{site}"


class _Message(NamedTuple):
    """A received message (a tuple: the network thread makes one per message, so it must be cheap)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    """Set by the broker when it replays a stored (retained) message to a new subscription."""
    generation: int
    """The connection it arrived on: an acknowledgement only makes sense on the same connection."""


class _Judged(NamedTuple):
    """A batch that was validated and judged, on its way to storage and acknowledgement."""

    batch: list[_Message]
    readings: list[Reading]
    letters: list[DeadLetter]
    started: float


class _Session:
    """One paho client and the events that ``start`` waits on."""

    def __init__(self, client: mqtt.Client, protocol: Protocol) -> None:
        self.client = client
        self.protocol = protocol
        self.subscribed = threading.Event()
        self.refused = threading.Event()
        self.refusal = ""
        self.refusal_code = 0
        self.socket_open = False
        self.answered = False


class Gateway:
    def __init__(
        self,
        settings: MqttSettings,
        site: Site,
        sink: ReadingSink,
        dead_letters: DeadLetterSink,
        *,
        on_batch: Callable[[Sequence[Reading]], None] | None = None,
        on_findings: Callable[[Sequence[Finding]], None] | None = None,
        clock: Clock | None = None,
        start_timeout_s: float = 15.0,
        session_expiry_s: int | None = None,
        keepalive_s: int = 30,
        presence_tolerance: float = 3.0,
    ) -> None:
        self._settings = settings
        self._site = site
        self._sink = sink
        self._dead_letters = dead_letters
        self._on_batch = on_batch
        self._on_findings = on_findings
        self._presence_checked = 0.0
        self._clock: Clock = clock or WallClock()
        self._url: BrokerUrl = parse_broker_url(settings.url)
        self._start_timeout_s = start_timeout_s
        self._session_expiry_s = settings.session_expiry_s if session_expiry_s is None else session_expiry_s
        self._keepalive_s = keepalive_s
        self._validator = Validator(site, settings)
        self._presence = PresenceTracker(
            site, tolerance=presence_tolerance, broker_lost_s=settings.broker_lost_s
        )
        self._queue: queue.Queue[_Message] = queue.Queue(settings.queue_size)
        self._session: _Session | None = None
        self._generation = 0
        self._closing = threading.Event()  # no more enqueuing
        self._draining = threading.Event()  # the worker finishes what is queued, then exits
        self._abandon = threading.Event()  # give up retrying a failing sink (stop timed out)
        self._worker: threading.Thread | None = None
        self._storer: threading.Thread | None = None
        self._handoff: Handoff[_Judged] = Handoff(settings.queue_size)
        self.client_id = client_id(settings, site.id)
        """``<prefix>-<site id>``: the site's own persistent session, whichever process consumes it."""
        self._log = log.bind(site=site.id, broker=str(self._url), client_id=self.client_id)
        self.failure: str | None = None
        """Why the gateway stopped on its own (the broker refused the credentials), else None."""

    # --- public ------------------------------------------------------------------------------------

    @property
    def protocol(self) -> str | None:
        """The MQTT version in use (``5`` or ``3.1.1``), None before ``start``."""
        return self._session.protocol if self._session else None

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.client.is_connected()

    def start(self) -> None:
        """Connect and subscribe; returns once subscribed. Raises StartupError after ``start_timeout_s``."""
        if self._worker is not None:
            raise StartupError("gateway already started")
        wanted = self._url.protocol
        session = self._connect("5" if wanted == "auto" else wanted, probe=wanted == "auto")
        if session.refusal_code == _UNSUPPORTED_PROTOCOL and wanted == "auto":
            self._log.info("mqtt.fallback", reason="broker refused MQTT 5, using 3.1.1")
            session = self._connect("3.1.1")
        if not session.subscribed.is_set():
            raise StartupError(f"MQTT broker {self._url}: {session.refusal or 'could not subscribe'}")
        self._session = session
        self._worker = threading.Thread(target=self._work, name="gateway-worker", daemon=True)
        self._storer = threading.Thread(target=self._store_work, name="gateway-storer", daemon=True)
        self._worker.start()
        self._storer.start()
        self._log.info("gateway.started", protocol=session.protocol)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop reading, process and acknowledge what is queued, then disconnect cleanly.

        If the sink still fails after ``timeout_s``, the rest stays unacknowledged: the broker keeps it
        for the next start.
        """
        self._closing.set()
        self._draining.set()
        workers = [w for w in (self._worker, self._storer) if w is not None]
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if any(worker.is_alive() for worker in workers):
            self._log.warning("gateway.stop_abandoned", queued=self._queue.qsize() + len(self._handoff))
            self._abandon.set()
            for worker in workers:
                worker.join(10)
        session, self._session = self._session, None
        if session is not None:
            session.client.disconnect()
            session.client.loop_stop()
        self._worker = self._storer = None
        self._log.info("gateway.stopped")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish facwatch's own messages (alert changes). Queued by paho while reconnecting; the answer
        says when the broker has it (``wait_for_publish``)."""
        session = self._session
        if session is None:
            raise NotRunning("publish() needs a started gateway")
        info = session.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._log.warning("mqtt.publish_failed", topic=topic[:200], rc=mqtt.error_string(info.rc))
        return info

    def presence(self) -> dict[str, AssetPresence]:
        """Every asset of the site: online or not, last heard from, last reported status."""
        return self._presence.snapshot(ms_from_utc(self._clock.now()))

    def queue_depth(self) -> int:
        """Messages received and not yet acknowledged (judged or not)."""
        return self._queue.qsize() + len(self._handoff)

    # --- connection (network thread) -------------------------------------------------------------

    def _connect(self, protocol: Protocol, probe: bool = False) -> _Session:
        """Connect and wait until subscribed or refused. ``probe``: an MQTT 5 attempt that may fall back."""
        v5 = protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        session = _Session(client, protocol)
        if self._settings.username is not None:
            # ``{site}`` in the user name: one broker user per site, for brokers that make the user name the
            # client id (Mosquitto's use_username_as_clientid), where sites sharing a user would share a session.
            username = self._settings.username.replace("{site}", self._site.id)
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
        self, client: mqtt.Client, session: _Session, flags: Any, reason: Any, properties: Any
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
        self._generation += 1
        filters = [(f, 1) for f in topics.subscriptions(self._site.id)]
        client.subscribe(filters)
        self._log.info("mqtt.connected", session_present=bool(flags.session_present))

    def _on_subscribe(
        self, client: mqtt.Client, session: _Session, mid: int, reasons: list[Any], properties: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            session.refusal = f"subscription refused: {', '.join(failed)}"
            session.refused.set()
            self._log.error("mqtt.subscribe_refused", reasons=failed)
            return
        session.subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, session: _Session, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not session.subscribed.is_set() and session.protocol == "5" and not session.refused.is_set():
            # Some MQTT 3.1.1 brokers (amqtt) drop an MQTT 5 CONNECT without answering: let start() fall back.
            session.refusal = f"connection closed before CONNACK: {reason}"
            session.refusal_code = _UNSUPPORTED_PROTOCOL
            session.refused.set()
            client.disconnect()
        elif not self._closing.is_set() and session.subscribed.is_set():
            self._log.warning("mqtt.disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, session: _Session, message: mqtt.MQTTMessage) -> None:
        item = _Message(
            message.topic,
            bytes(message.payload),
            message.mid,
            message.qos,
            bool(message.retain),
            self._generation,
        )
        try:
            self._queue.put_nowait(item)  # the common case, and the cheapest (this thread reads the socket)
            return
        except queue.Full:
            pass
        # Block while the queue is full (back-pressure); on shutdown leave it unacknowledged instead.
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=0.2)
            except queue.Full:
                continue
            return

    # --- worker ------------------------------------------------------------------------------------

    def _work(self) -> None:
        """The judge worker: validate and judge each batch, then hand it to the storer."""
        try:
            while not (self._draining.is_set() and self._queue.empty()):
                batch = self._take_batch()
                if batch:
                    judged = self._judge(batch)
                    if not self._handoff.put(judged, len(batch), self._abandon):
                        return
                if self._on_findings is not None and time.monotonic() - self._presence_checked >= 1.0:
                    self._check_presence()
        finally:
            self._handoff.close()

    def _store_work(self) -> None:
        """The storer: make each judged batch durable, keep its dead letters, acknowledge it, in order."""
        while (judged := self._handoff.get(self._abandon)) is not None:
            if not self._store(judged):
                return

    def _check_presence(self) -> None:
        """Once a second, also when nothing arrives: silence is what makes a device stale."""
        self._presence_checked = time.monotonic()
        findings = self._presence.changes(ms_from_utc(self._clock.now()), connected=self.connected)
        if not findings or self._on_findings is None:
            return
        for finding in findings:
            self._log.info(
                "gateway.presence", asset=finding.asset, offline=finding.active, summary=finding.summary
            )
        try:
            self._on_findings(findings)
        except Exception:
            metrics.CALLBACK_ERRORS.labels(self._site.id).inc()
            self._log.exception("gateway.on_findings_failed", findings=len(findings))

    def _take_batch(self) -> list[_Message]:
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._settings.batch_ms / 1000
        size, get_nowait = self._settings.batch_size, self._queue.get_nowait
        while len(batch) < size:
            try:
                batch.append(get_nowait())  # what is there already, without a timed wait per message
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        metrics.QUEUE_DEPTH.labels(self._site.id).set(self._queue.qsize())
        return batch

    def _judge(self, batch: list[_Message]) -> _Judged:
        """Validate, note presence, and judge the readings (``on_batch``) before they are stored."""
        started = time.perf_counter()
        now_ms = ms_from_utc(self._clock.now())
        readings: list[Reading] = []
        letters: list[DeadLetter] = []
        streams: dict[str, int] = {}
        seen: set[str] = set()
        check = self._validator.check
        for message in batch:
            stream = message.topic.rpartition("/")[2]
            streams[stream] = streams.get(stream, 0) + 1
            verdict = check(message.topic, message.payload, now_ms, message.retain)
            readings.extend(verdict.readings)
            if verdict.dead_letters:
                letters.extend(verdict.dead_letters)
            if verdict.asset is not None:
                if verdict.online is None:
                    seen.add(verdict.asset)  # once per batch, not once per message
                else:
                    self._presence.reported(verdict.asset, verdict.online, now_ms)
        for asset in seen:
            self._presence.seen(asset, now_ms)
        for stream, count in streams.items():
            metrics.MESSAGES.labels(self._site.id, stream if stream in _STREAMS else "other").inc(count)
        if self._on_batch is not None and readings:
            try:
                self._on_batch(readings)  # judged before storage: detection never waits behind the store
            except Exception:
                metrics.CALLBACK_ERRORS.labels(self._site.id).inc()
                self._log.exception("gateway.on_batch_failed", readings=len(readings))
        return _Judged(batch, readings, letters, started)

    def _store(self, judged: _Judged) -> bool:
        """Store, keep dead letters, acknowledge. False: abandoned (stop timed out)."""
        batch, readings, letters, started = judged
        if readings and not self._durably("store", self._sink.write, readings):
            return False
        if letters and not self._durably("dead_letters", self._dead_letters.put, letters):
            return False
        self._ack(batch)
        metrics.READINGS.labels(self._site.id).inc(len(readings))
        for letter in letters:
            metrics.DEAD_LETTERS.labels(self._site.id, letter.reason.value).inc()
            self._log.warning(
                "gateway.dead_letter",
                topic=letter.topic[:200],
                reason=letter.reason.value,
                detail=letter.detail[:200],
                payload=letter.payload[:120].decode("utf-8", errors="replace"),
            )
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        return True

    def _durably(self, name: str, write: Callable[[Sequence[Any]], None], items: Sequence[Any]) -> bool:
        """Call ``write`` until it succeeds (backing off to 5 s), or until the stop is abandoned."""
        delay = 0.05
        while True:
            try:
                write(items)
                return True
            except Exception as exc:
                metrics.WRITE_ERRORS.labels(self._site.id, name).inc()
                self._log.warning("gateway.write_failed", sink=name, items=len(items), error=str(exc)[:200])
            if self._abandon.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

    def _ack(self, batch: list[_Message]) -> None:
        session = self._session
        if session is None:
            return
        for message in batch:
            # After a reconnect the broker redelivers what was not acknowledged; acking the old
            # connection's packet ids would acknowledge other messages.
            if message.qos > 0 and message.generation == self._generation:
                session.client.ack(message.mid, message.qos)
