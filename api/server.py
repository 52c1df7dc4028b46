"""Run the app with uvicorn in a background thread: ``facwatch demo`` and tests serve the API in-process.

handle = serve(create_app(services), "127.0.0.1", 0)   # port 0: any free port
... handle.port ... handle.url ...
handle.stop()
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from facwatch.errors import StartupError

START_TIMEOUT_S = 15.0
GRACE_S = 1
"""How long ``stop`` lets open responses (event streams never end by themselves) finish."""


@dataclass
class ServerHandle:
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve(app: FastAPI, host: str, port: int, *, start_timeout: float = START_TIMEOUT_S) -> ServerHandle:
    """Start serving and return once the socket listens; raises StartupError (port taken, ...)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # leave logging to the process (structlog); do not reconfigure it
        log_level="warning",
        access_log=False,  # the event stream's URL carries a token
        lifespan="on",
        timeout_graceful_shutdown=GRACE_S,
    )
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # SystemExit when the port is taken
            failed.append(exc)

    thread = threading.Thread(target=run, name="facwatch-api", daemon=True)
    thread.start()
    # uvicorn installs signal handlers only in the main thread, so this thread's server is stopped by stop().
    deadline = time.monotonic() + start_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        reason = f": {failed[0]!r}" if failed else ""
        raise StartupError(f"the API could not listen on {host}:{port}{reason}")
    return ServerHandle(server=server, thread=thread, host=host, port=_bound_port(server, port))


def _bound_port(server: uvicorn.Server, requested: int) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return requested
