"""Reports pushed to owners: what is due when (a table), and the simulated quarter's reports going through
the outbox to the buildings' owner groups on a real HTTP receiver, once, in both languages, with a signed link."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from alerts.engine.db import notifications
from alerts.notify.dispatcher import Dispatcher
from alerts.notify.reports.links import LinkCheck, PageRef, check
from alerts.notify.reports.publish import Due, Publisher, due
from alerts.notify.reports.service import Reports
from facwatch.config import NotifySettings, ReportSettings, load_settings
from facwatch.errors import ConfigError
from tests.fixtures.receivers import HttpReceiver
from tests.reports.quarter import RECTIFIED_AT, Quarter, local, visits_of

pytestmark = pytest.mark.integration
SECRET = "s3cret-for-tests"
BASE = "https://fw.example.com"
DEFAULT = ReportSettings()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (local(8, 1, 9, 59), []),  # the 1st, before the hour: nothing yet
        (local(8, 1, 10, 0), [Due("monthly", "2026-07")]),  # July's list from 10:00 on the 1st
        (local(8, 20, 3), [Due("monthly", "2026-07")]),  # still due later in the month (sent once by key)
        (local(10, 4, 12), [Due("monthly", "2026-09")]),  # the quarterly waits for the 5th
        (local(10, 5, 10), [Due("monthly", "2026-09"), Due("quarterly", "2026-Q3")]),
        (local(11, 5, 10), [Due("monthly", "2026-10")]),  # not a quarter's first month
    ],
)
def test_what_is_due_when(now: datetime, expected: list[Due]) -> None:
    assert due(DEFAULT, "Asia/Shanghai", now) == expected


def test_switched_off_reports_are_never_due() -> None:
    off = ReportSettings(monthly=False, quarterly=False)
    assert due(off, "Asia/Shanghai", local(10, 5, 12)) == []


def test_the_schedule_is_read_from_the_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "facwatch.toml"
    path.write_text('[reports]\nmonthly_day = 3\nsend_hour = 9\npage_secret = "k"\n')
    settings = load_settings(path).reports
    assert (settings.monthly_day, settings.send_hour, settings.page_secret) == (3, 9, "k")
    assert due(settings, "Asia/Shanghai", local(9, 2, 12)) == []  # not before the 3rd
    path.write_text("[reports]\nmonthly_dya = 3\n")
    with pytest.raises(ConfigError, match="monthly_dya"):
        load_settings(path)


def _owner_rows(q: Quarter) -> list[tuple[str, str, str, int | None]]:
    n = notifications
    with q.engine.connect() as conn:
        rows = conn.execute(
            select(n.c.key, n.c.title, n.c.body, n.c.ticket_id)
            .where(n.c.key.like("report:%"))
            .order_by(n.c.id)
        )
        return [(k, t, b, tid) for k, t, b, tid in rows]


def test_due_reports_reach_the_owner_groups_once_in_both_languages_with_a_signed_link(
    quarter: Quarter, http_receiver: HttpReceiver
) -> None:
    owners = tuple(
        dataclasses.replace(g, notify=(f"{http_receiver.url}owners-{g.building}",))
        for g in quarter.site.owners
    )
    site = dataclasses.replace(quarter.site, owners=owners)
    settings = ReportSettings(page_secret=SECRET, public_url=BASE)
    reports = Reports(quarter.engine, site, settings, quarter.sla, telemetry=quarter.store, visits=visits_of)
    publisher = Publisher(reports, NotifySettings())
    now = local(8, 16, 11)  # the morning the pump was fixed: its repair report, and July's lists
    assert publisher.run(now) == 3  # July for b1 and b2, the repair report for b1
    assert publisher.run(now) == 0  # never twice
    rows = _owner_rows(quarter)
    keys = sorted(k.split(":")[1] + ":" + k.split(":")[3] for k, *_ in rows)
    assert keys == ["monthly:b1", "monthly:b2", "repair:b1"]
    repair = next(r for r in rows if r[0].startswith("report:repair"))
    assert repair[3] == int(quarter.rectification.id.split("-")[1])  # tied to the rectification ticket
    assert "专项检修报告" in repair[1] and "Targeted repair report" in repair[1]
    assert "30天内 3 次" in repair[2] and "3 times in 30 days" in repair[2]

    Dispatcher(quarter.engine, site=site).deliver_pending(now)
    got = http_receiver.wait_for(3)
    assert sorted(p.rsplit("/", 1)[-1] for p in http_receiver.paths) == [
        "owners-b1",
        "owners-b1",
        "owners-b2",
    ]
    monthly_b1 = next(m for m in got if "隐形服务清单" in m["title"] and "1号楼" in m["title"])
    assert "Invisible-service list" in monthly_b1["title"]
    links = [w for w in monthly_b1["message"].split() if w.startswith(BASE)]
    assert len(links) == 2  # one for each language
    url = urlsplit(links[0])
    _, _, _, site_id, building, kind, subject = url.path.split("/")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    ref = PageRef(site_id, building, kind, subject, query["lang"], int(query["expires"]))
    assert (building, kind, subject) == ("b1", "monthly", "2026-07")
    assert check(SECRET, ref, query["sig"], now) is LinkCheck.OK


def test_a_report_due_in_the_owners_quiet_hours_waits_for_the_morning(quarter: Quarter) -> None:
    reports = Reports(quarter.engine, quarter.site, sla=quarter.sla)
    publisher = Publisher(reports, NotifySettings())
    night = local(8, 16, 23, 30)
    figures = reports.figures("repair", "b1", quarter.rectification.id, night)
    group = next(g for g in quarter.site.owners if g.building == "b1")
    item = publisher.item(figures, Due("repair", quarter.rectification.id, "b1"), "b1", group, night)
    assert item.release_at == local(8, 17, 7) and item.quiet
    assert night > RECTIFIED_AT
