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
- Only while the site is held: a leased site's gateway (``holds``, the lease keeper's cheap local check) takes
  and acknowledges messages only while this process still holds the site. A worker resumed after a pause past
  its lease must not acknowledge what it receives (the new owner would never see it): it leaves every message
  unacknowledged and closes its connection for good (``gateway/session.py``), so the broker redelivers them
  to the session's next connection, the new owner's. Its runtime is stopped by the lease keeper meanwhile.
- Back-pressure: the network thread blocks on the full queue, stops reading the socket, and the broker
  holds the messages. Nothing is dropped. (A sink stalled for longer than 1.5 × keepalive gets the
  connection closed by the broker; the gateway reconnects and the broker redelivers.)
- The connection (``gateway/session.py``): subscriptions are made in ``on_connect``, so every reconnect
  resubscribes; reconnects back off exponentially up to 30 s; a broker that refuses the credentials stops
  the gateway with a clear error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import structlog

from facwatch.clock import Clock, WallClock
from facwatch.config import MqttSettings
from facwatch.errors import StartupError
from facwatch.model import DeadLetter, DeadLetterSink, Finding, Reading, ReadingSink, Site, ms_from_utc
from gateway import metrics, topics
from gateway.broker_url import BrokerUrl, parse_broker_url
from gateway.errors import NotRunning
from gateway.handoff import Handoff
from gateway.presence import AssetPresence, PresenceTracker
from gateway.session import Connector, Session, client_id
from gateway.validate import Validator

log = structlog.get_logger("facwatch.gateway")

_STREAMS = {stream.value for stream in topics.Stream}


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
        holds: Callable[[], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._site = site
        self._sink = sink
        self._dead_letters = dead_letters
        self._on_batch = on_batch
        self._on_findings = on_findings
        self._holds = holds
        self._presence_checked = 0.0
        self._clock: Clock = clock or WallClock()
        self._url: BrokerUrl = parse_broker_url(settings.url)
        self._validator = Validator(site, settings)
        self._presence = PresenceTracker(
            site, tolerance=presence_tolerance, broker_lost_s=settings.broker_lost_s
        )
        self._queue: queue.Queue[_Message] = queue.Queue(settings.queue_size)
        self._session: Session | None = None
        self._closing = threading.Event()  # no more enqueuing
        self._draining = threading.Event()  # the worker finishes what is queued, then exits
        self._abandon = threading.Event()  # give up retrying a failing sink (stop timed out)
        self._worker: threading.Thread | None = None
        self._storer: threading.Thread | None = None
        self._handoff: Handoff[_Judged] = Handoff(settings.queue_size)
        self.client_id = client_id(settings, site.id)
        """``<prefix>-<site id>``: the site's own persistent session, whichever process consumes it."""
        self._log = log.bind(site=site.id, broker=str(self._url), client_id=self.client_id)
        self._connector = Connector(
            settings,
            site.id,
            self._url,
            deliver=self._on_message,
            closing=self._closing,
            log=self._log,
            start_timeout_s=start_timeout_s,
            session_expiry_s=settings.session_expiry_s if session_expiry_s is None else session_expiry_s,
            keepalive_s=keepalive_s,
            holds=holds,
        )

    # --- public ------------------------------------------------------------------------------------

    @property
    def protocol(self) -> str | None:
        """The MQTT version in use (``5`` or ``3.1.1``), None before ``start``."""
        return self._session.protocol if self._session else None

    @property
    def failure(self) -> str | None:
        """Why the gateway stopped on its own (the broker refused the credentials), else None."""
        return self._connector.failure

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.client.is_connected()

    def start(self) -> None:
        """Connect and subscribe; returns once subscribed. Raises StartupError after ``start_timeout_s``."""
        if self._worker is not None:
            raise StartupError("gateway already started")
        session = self._connector.open()
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

    # --- the network thread ---------------------------------------------------------------------

    def _on_message(self, message: mqtt.MQTTMessage, generation: int) -> None:
        if not self._held():
            return  # not acknowledged: the broker redelivers it to the site's owner
        item = _Message(
            message.topic,
            bytes(message.payload),
            message.mid,
            message.qos,
            bool(message.retain),
            generation,
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
        refused: dict[str, str] = {}
        check = self._validator.check
        for message in batch:
            stream = message.topic.rpartition("/")[2]
            streams[stream] = streams.get(stream, 0) + 1
            verdict = check(message.topic, message.payload, now_ms, message.retain)
            readings.extend(verdict.readings)
            if verdict.dead_letters:
                letters.extend(verdict.dead_letters)
            if verdict.asset is not None:
                if verdict.online is not None:
                    self._presence.reported(verdict.asset, verdict.online, now_ms)
                elif verdict.readings or not verdict.dead_letters:
                    seen.add(verdict.asset)  # once per batch, not once per message
                else:  # heard, but nothing it said can be judged: that is not being online
                    first = verdict.dead_letters[0]
                    refused[verdict.asset] = f"{first.reason.value}: {first.detail[:80]}"
        for asset in seen:
            self._presence.seen(asset, now_ms)
        for asset, why in refused.items():
            self._presence.refused(asset, now_ms, why)
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

    def _held(self) -> bool:
        """Whether this process still holds the site (always, unless leased). When it no longer does, the
        connection is closed for good, so that what was not acknowledged goes to the next owner."""
        if self._holds is None or self._holds():
            return True
        session = self._session
        if session is not None and not self._connector.released:
            self._connector.release(session.client)
        return False

    def _ack(self, batch: list[_Message]) -> None:
        session = self._session
        if session is None or not self._held():
            return
        for message in batch:
            # After a reconnect the broker redelivers what was not acknowledged; acking the old
            # connection's packet ids would acknowledge other messages.
            if message.qos > 0 and message.generation == self._connector.generation:
                session.client.ack(message.mid, message.qos)
