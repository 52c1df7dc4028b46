"""A worker for the paused-owner test: holds one site through a lease and writes alerts through the fenced
alert service in a loop, with the epoch it won (as a zombie would, not asking its keeper again).

    python -m tests.cluster.paused_writer POSTGRES_URL SITE LEASE_S

Prints ``won EPOCH``, then per write ``committed N``, ``refused N <why>`` or ``failed N <error>`` (flushed).
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Connection

from alerts.engine.events import EventBus
from alerts.engine.leases import LeaseStore, StaleOwner, fence
from alerts.engine.leases_keeper import LeaseKeeper
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from facwatch.config import SlaSettings, load_site
from facwatch.model import Finding, Level, ms_from_utc
from facwatch.state import open_engine


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    url, site_id, lease_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    engine = open_engine(url)
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    won = threading.Event()
    epochs: list[int] = []

    def on_won(site: str, epoch: int) -> None:
        epochs.append(epoch)
        won.set()

    keeper = LeaseKeeper(
        LeaseStore(engine, lease_s=lease_s), [site_id], on_won=on_won, on_lost=lambda s: None, me="paused"
    )
    keeper.start()
    won.wait(60)
    epoch = epochs[0]
    say(f"won {epoch}")

    def fencing(conn: Connection) -> None:
        fence(conn, site_id, "paused", epoch, lease_s=lease_s)

    service = AlertService(engine, site, SlaSettings(), EventBus(), OutboxNotifier(site), fencing=fencing)
    n = 0
    while True:
        n += 1
        now = datetime.now(UTC)
        finding = Finding(site.id, "b1-elev-1", f"test.write{n}", ms_from_utc(now), True, Level.BLUE, f"w{n}")
        try:
            service.observe_findings([finding], now)
            say(f"committed {n}")
        except StaleOwner as exc:
            say(f"refused {n} {exc}")
        except Exception as exc:
            say(f"failed {n} {type(exc).__name__}")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
