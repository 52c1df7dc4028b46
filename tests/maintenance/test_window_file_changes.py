"""Windows of the site file changed in the file (read again on a restart), and notices withdrawn while they
wait for the morning, on a real state database (SQLite and PostgreSQL) and a real HTTP receiver behind
apprise: what the owners of building 1 receive."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts.engine.db import notifications
from facwatch.model import Maintenance, MaintenanceWindow, Site
from tests.alerts.helpers import DATABASES, demo_site, state_engine
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until
from tests.maintenance.test_month import DAY, ELEVATOR, HOUR, OTHER, START, Month

OWNERS = "owners-b1"
PLANNED, DONE, CANCELLED, MOVED = "计划维保通知", "维保已完成", "维保计划取消", "维保时间变更"


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def with_windows(site: Site, *windows: MaintenanceWindow) -> Site:
    """The site file with these ``[[maintenance_windows]]`` (refs as ``parse_maintenance`` makes them)."""
    return dataclasses.replace(site, maintenance=Maintenance(windows=windows))


def derived(asset: str, window: MaintenanceWindow) -> MaintenanceWindow:
    local = window.start + 8 * HOUR  # Shanghai
    return dataclasses.replace(window, ref=f"S-{asset}-{local:%Y%m%dT%H%M}")


def test_owners_hear_of_windows_changed_in_the_site_file(engine: Engine, http_receiver: HttpReceiver) -> None:
    site = demo_site(http_receiver)
    # START is 03-04 16:00 in Shanghai. X has a ref of its own; Y and Z do not.
    x = MaintenanceWindow("S-lift-a", ELEVATOR, START, START + 2 * HOUR, None, "半月保养")
    y = derived(OTHER, MaintenanceWindow("", OTHER, START + 4 * HOUR, START + 5 * HOUR, None, "年检"))
    z = derived(OTHER, MaintenanceWindow("", OTHER, START + HOUR, START + 2 * HOUR, None, "润滑"))
    month = Month(engine, with_windows(site, x, y, z), http_receiver)
    month.step(START - 20 * HOUR)  # 03-03 20:00: all three the day before
    for what in ("半月保养", "年检", "润滑"):
        month.wait_told(OWNERS, what)
    month.dispatcher.close()

    # The property manager edits the file: Z first now; X (with its ref) two days later; Y moved a day
    # later without a ref: another window, the old one gone. facwatch restarts on the edited file.
    x2 = dataclasses.replace(x, start=START + 2 * DAY, end=START + 2 * DAY + 2 * HOUR)
    y2 = derived(OTHER, dataclasses.replace(y, start=START + DAY + 2 * HOUR, end=START + DAY + 3 * HOUR))
    month = Month(engine, with_windows(site, z, x2, y2), http_receiver)
    month.step(START - 19 * HOUR)
    (moved,) = month.wait_told(OWNERS, MOVED)
    assert "半月保养" in moved["message"]
    assert "原定于03月04日 16:00" in moved["message"] and "03月06日 16:00" in moved["message"]
    (cancelled,) = month.wait_told(OWNERS, CANCELLED)
    # Gone from the file: the asset and the time told (the file no longer says what the work was).
    assert "1号楼2单元电梯" in cancelled["message"]
    assert "03月04日 20:00至03月04日 21:00" in cancelled["message"]

    # Then the days go by: Z done; Y2 the day before and done; X2 the day before its new time and done.
    for at in (START, START + 2 * HOUR, START + 3 * HOUR, START + 6 * HOUR, START + DAY + 3 * HOUR):
        month.step(at)
    month.wait_told(OWNERS, "03月05日 18:00至03月05日 19:00进行维护保养")  # Y2, the day before
    month.step(START + DAY + 4 * HOUR)  # 03-05 20:00: X2 the day before
    month.wait_told(OWNERS, "03月06日 16:00至03月06日 18:00进行维护保养")
    month.step(START + 2 * DAY + 3 * HOUR)
    month.wait_told(OWNERS, "半月保养")
    wait_until(lambda: len(month.told(OWNERS, DONE)) == 3, 10, "three windows done")
    done = " ".join(d["message"] for d in month.told(OWNERS, DONE))
    assert all(w in done for w in ("润滑", "年检", "半月保养"))  # Z, Y2, X2; never the cancelled Y
    # Each once; the reordered Z neither cancelled nor announced again.
    assert len(month.told(OWNERS, CANCELLED)) == 1
    assert len(month.told(OWNERS, MOVED)) == 1
    assert len(month.told(OWNERS, PLANNED)) == 5  # X, Y, Z; Y2; X2 the day before its new time
    assert len([d for d in month.told(OWNERS, PLANNED) if "润滑" in d["message"]]) == 1
    month.dispatcher.close()


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(notifications.c.key, notifications.c.status)).all()
    return {str(r.key): str(r.status) for r in rows}


def test_held_notices_are_withdrawn_when_their_window_changes(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = demo_site(http_receiver)  # owners' quiet hours 22:00-07:00 (the default)
    # A in the site file, 03-05 09:00; B through the API, 03-05 10:00.
    a = derived(
        ELEVATOR, MaintenanceWindow("", ELEVATOR, START + 17 * HOUR, START + 18 * HOUR, None, "半月保养")
    )
    month = Month(engine, with_windows(site, a), http_receiver)
    b = month.book.add_window(
        MaintenanceWindow("", OTHER, START + 18 * HOUR, START + 19 * HOUR, None, "年检"),
        "eng-wang",
        START - DAY,
    )
    month.step(START + 7 * HOUR)  # 03-04 23:00: both due, both held for the morning
    held = statuses(engine)
    assert sorted(held.values()) == ["held", "held"], held
    month.dispatcher.close()

    # 01:00: A taken out of the site file (a restart), B moved to 11:00 through the API.
    month = Month(engine, with_windows(site), http_receiver)
    month.book.move_window(b.ref, START + 19 * HOUR, START + 20 * HOUR, START + 9 * HOUR)
    month.step(START + 9 * HOUR)
    now = statuses(engine)
    assert sorted(now.values()) == ["held", "withdrawn", "withdrawn"], now
    # 07:00: the morning. B's notice with its new time alone (not a digest with a "cancelled" or "moved").
    month.step(START + 15 * HOUR)
    (told,) = month.wait_told(OWNERS, PLANNED)
    assert "年检" in told["message"] and "03月05日 11:00至03月05日 12:00" in told["message"]
    month.step(START + 16 * HOUR)  # a later round: nothing else was waiting
    with http_receiver.lock:
        posts = [p for p in http_receiver.paths if p.endswith(OWNERS)]
    assert len(posts) == 1
    month.dispatcher.close()
