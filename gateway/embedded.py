"""An embedded MQTT broker (amqtt) on its own thread and event loop, for ``facwatch demo`` and tests.

amqtt speaks MQTT 3.1.1 only: a gateway that talks to it uses ``protocol=3.1.1`` (the subscriber falls
back by itself). Production uses Mosquitto or EMQX; this broker exists so that the demo needs nothing
installed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from facwatch.errors import StartupError

if TYPE_CHECKING:
    from amqtt.broker import Broker

# amqtt is the ``demo`` extra: production installs talk to Mosquitto or EMQX and need not carry it.
INSTALL_HINT = (
    "the embedded MQTT broker needs amqtt: pip install 'facwatch[demo]' (or pass --broker mqtt://HOST:PORT)"
)

_START_TIMEOUT_S = 15.0


def broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "sys_interval": 0,
        "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
        "topic-check": {"enabled": False},
    }


class EmbeddedBroker:
    """``start(host, port)`` returns once the broker listens; ``stop()`` shuts it down, joins the thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        if self.running:
            raise StartupError("embedded broker already running")
        try:
            import amqtt.broker  # noqa: F401  (the demo extra; imported here so production installs skip it)
        except ImportError as exc:
            raise StartupError(INSTALL_HINT) from exc
        # amqtt logs every connection (and its own config notes) below ERROR; keep it quiet.
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        self.host, self.port = host, port
        started: Future[None] = Future()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run, args=(loop, started), name=f"amqtt-{port}", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout=_START_TIMEOUT_S)
        except Exception as exc:
            self._stop_loop()
            raise StartupError(f"embedded MQTT broker could not listen on {host}:{port}: {exc}") from exc

    def _run(self, loop: asyncio.AbstractEventLoop, started: Future[None]) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(loop)
        try:
            self._broker = Broker(broker_config(self.host, self.port), loop=loop)
            loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        loop, broker = self._loop, self._broker
        if loop is None or not self.running:
            return
        if broker is not None:
            shutdown = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                shutdown.result(timeout=10)
            except Exception:  # a broker that fails to shut down cleanly is still stopped below
                logging.getLogger(__name__).warning("embedded broker shutdown failed", exc_info=True)
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._loop = None
        self._thread = None
        self._broker = None
