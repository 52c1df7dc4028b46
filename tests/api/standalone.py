"""The API over the test fakes as a process of its own, for tests that measure the server (RSS, streams).

    python -m tests.api.standalone PORT STATE_DB ADMIN_TOKEN

Publishes a ``ticket`` event on its bus every 0.2 s, so an open event stream always has something to carry.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime

import uvicorn

from alerts.engine.events import EventBus
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from facwatch.clock import WallClock
from facwatch.config import load_site
from facwatch.state import migrate, open_engine
from tests.api.fakes import FakeAlerts, FakeDeadLetters, FakeTelemetry


def main(port: int, state_db: str, admin_token: str) -> None:
    engine = open_engine(f"sqlite:///{state_db}")
    migrate(engine)
    tokens = TokenStore(engine, WallClock())
    tokens.register("admin-user", ["admin"], admin_token)
    site = load_site("demo", variables={"data_dir": str(state_db) + ".d"})
    bus = EventBus()
    services = ApiServices(
        site=site,
        alerts=FakeAlerts(site),
        telemetry=FakeTelemetry(),
        dead_letters=FakeDeadLetters(),
        tokens=tokens,
        bus=bus,
        clock=WallClock(),
    )
    app = create_app(services, heartbeat_s=1.0, webhooks_worker=False)
    stop = threading.Event()

    def tick() -> None:
        n = 0
        while not stop.wait(0.2):
            n += 1
            bus.publish("ticket", {"id": f"T-{n:06d}"}, datetime.now(UTC))

    threading.Thread(target=tick, daemon=True).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    stop.set()
    bus.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
