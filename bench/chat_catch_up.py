"""What the owner's chat catch-up costs the clocks' loop: a backlog of messages kept by an API replica while no
process ran the site, then judged by the owner's ``catch_up``, a look at a time (at most ``CATCH_UP_PAGE``
messages, and no more once ``CATCH_UP_BUDGET_S`` is spent), as the owner's runtime calls it.

Prints the longest look (what a tick of the SLA clocks may wait) and messages per second while judging,
beside the reference of the same run: the same messages
judged at once as they arrive (``receive`` in the owner's process). The messages are the demo's groups'
chatter and complaints, ``--gap-s`` apart in event time (the denser, the more each judgement reads: the ladder
looks two hours back).

Run: ``PYTHONPATH=. .venv/bin/python -m bench.chat_catch_up [--messages N] [--gap-s S] [--postgres URL]``
(default: SQLite state databases in a temporary folder; ``--postgres``: a server on which to create, and
then drop, a database for each run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from alerts.engine.chat import CATCH_UP_BUDGET_S, CATCH_UP_PAGE, ChatMessage, ChatService
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import Site, ms_from_utc
from facwatch.state import migrate, open_engine

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
TEXTS = ("今天天气不错", "电梯又坏了，无语", "有人在吗", "又停水了，投诉", "好的，谢谢管家")


def messages(site: Site, n: int, gap_s: float) -> list[ChatMessage]:
    groups = [g.id for g in site.chat.groups]
    return [
        ChatMessage(
            site.id,
            groups[i % len(groups)],
            f"m{i:06d}",
            "owner",
            TEXTS[i % len(TEXTS)],
            ms_from_utc(T0 + timedelta(seconds=i * gap_s)),
        )
        for i in range(n)
    ]


def _at(message: ChatMessage) -> datetime:
    return datetime.fromtimestamp(message.ts_ms / 1000, UTC)


def at_once(engine: Engine, site: Site, batch: list[ChatMessage]) -> float:
    """Seconds to keep and judge each message as it arrives (the reference)."""
    chat = ChatService.build(engine, site, _service(engine, site))
    began = time.perf_counter()
    for message in batch:
        chat.receive(message, _at(message))
    return time.perf_counter() - began


def caught_up(engine: Engine, site: Site, batch: list[ChatMessage]) -> list[float]:
    """Seconds of each ``catch_up`` look over the backlog kept by a replica."""
    service = _service(engine, site)
    replica = ChatService.build(engine, site, service, judges=lambda: False)
    for message in batch:
        replica.receive(message, _at(message))
    owner = ChatService.build(engine, site, service)
    now = _at(batch[-1]) + timedelta(minutes=1)
    looks = []
    while True:
        began = time.perf_counter()
        judged = owner.catch_up(now)
        if judged == 0:
            return looks
        looks.append(time.perf_counter() - began)


def _service(engine: Engine, site: Site) -> AlertService:
    return AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site))


@contextmanager
def state(folder: Path, postgres: str, name: str) -> Iterator[Engine]:
    """A fresh, migrated state database: SQLite in ``folder``, or a new database on ``postgres``."""
    if not postgres:
        engine = open_engine(f"sqlite:///{folder / f'{name}.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    db = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db}"))
    engine = open_engine(postgres.rsplit("/", 1)[0] + f"/{db}")
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {db}"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--gap-s", type=float, default=10.0)
    parser.add_argument("--postgres", default="", help="a PostgreSQL server's URL (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = load_site("demo", variables={"data_dir": tmp})
        batch = messages(site, args.messages, args.gap_s)
        with state(Path(tmp), args.postgres, "reference") as engine:
            reference = at_once(engine, site, batch)
        with state(Path(tmp), args.postgres, "catchup") as engine:
            looks = caught_up(engine, site, batch)
            dialect = engine.dialect.name
    n = args.messages
    print(
        f"{dialect}, {n} messages {args.gap_s:g} s apart, page {CATCH_UP_PAGE}, budget {CATCH_UP_BUDGET_S:g} s"
    )
    print(
        f"catch-up:  {len(looks)} looks, {1000 * max(looks):.0f} ms the longest, "
        f"{1000 * sum(looks) / len(looks):.0f} ms on average, {n / sum(looks):.1f} messages/s"
    )
    print(f"reference: judged at once on arrival, {n / reference:.1f} messages/s")


if __name__ == "__main__":
    main()
