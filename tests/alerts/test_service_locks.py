"""The engine's two locks are always taken in one order (judging, then state): the checkpoint's copy
(``under_lock``) and the clock tick (which drains the arrival signs) running at once never deadlock. Before
the fix the tick took the state lock and then the judging lock, the checkpoint the other way round: both
stopped for good, the tick holding its SQLite write transaction open (every other writer then failed with
"database is locked", the API answered 500, and the system's stop hung)."""

from __future__ import annotations

import threading
from pathlib import Path

from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings
from facwatch.state import migrate, open_engine
from tests.alerts.helpers import T0, demo_site
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until


def test_a_checkpoint_copy_and_clock_ticks_at_once_finish(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    site = demo_site(http_receiver)
    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))
    done = {"ticks": 0, "copies": 0}

    def ticks() -> None:
        for _ in range(300):
            service.tick(T0)
            done["ticks"] += 1

    def copies() -> None:
        for _ in range(3000):
            service.under_lock(lambda: None)
            done["copies"] += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (ticks, copies)]
    for thread in threads:
        thread.start()
    wait_until(lambda: done == {"ticks": 300, "copies": 3000}, 30, f"both finished ({done})")
    engine.dispose()
