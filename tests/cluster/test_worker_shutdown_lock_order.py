"""A site's SLA clocks and its checkpoint, run at the same moment again and again (as a worker's tick and
checkpoint loops do), always finish: the tick and the checkpoint's copy take the engine's two locks in the
same order. They once did not (the tick held the writes' lock and waited for the judging lock, the
checkpoint the other way round): the site's threads then waited for each other for ever, its readings were
no longer judged nor acknowledged, and a SIGTERM or a handover of the site hung on its stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine.checkpoint import Checkpointer
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings
from facwatch.model import utc_from_ms
from facwatch.state import migrate, open_engine
from tests.alerts.helpers import T0_MS, demo_site
from tests.fixtures.receivers import HttpReceiver

ROUNDS = 300


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite state database (the locks in question are the engine's own, not the database's)."""
    state = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(state)
    yield state
    state.dispose()


def _repeat(rounds: int, step: Callable[[int], object], failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            for i in range(rounds):
                step(i)
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ticks_and_checkpoints_at_the_same_moment_always_finish(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = demo_site(http_receiver)
    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))
    checkpoint = Checkpointer(service, None)
    failures: list[BaseException] = []
    ticks = _repeat(ROUNDS, lambda i: service.tick(utc_from_ms(T0_MS + i * 500)), failures)
    copies = _repeat(ROUNDS, lambda i: checkpoint.write(utc_from_ms(T0_MS + i * 500)), failures)
    ticks.join(60)
    copies.join(60)
    assert not ticks.is_alive() and not copies.is_alive(), "the tick and the checkpoint wait for each other"
    assert failures == []
