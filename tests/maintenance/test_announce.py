"""What owners read about a window (pure): both languages, their own building only, and quiet hours."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.maintenance import Announcement, Moment
from alerts.notify.audiences import Outgoing
from alerts.notify.maintenance import plan_announcement
from alerts.notify.messages import Templates
from facwatch.config import NotifySettings, load_site
from facwatch.model import MaintenanceWindow

SITE = load_site("demo", variables={"data_dir": "/nonexistent"})
START = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
WINDOW = MaintenanceWindow(
    "W-000001", "b1-elev-1", START, START + timedelta(hours=2), None, "半月保养 half-monthly maintenance"
)


def _announce(
    at: datetime, moment: Moment = Moment.PLANNED, quiet: bool = True, lang: str = "zh+en"
) -> list[Outgoing]:
    site = dataclasses.replace(SITE, owners=tuple(dataclasses.replace(o, lang=lang) for o in SITE.owners))
    asset = site.asset("b1-elev-1")
    assert asset is not None
    a = Announcement("maint:k", site.id, moment, WINDOW, asset, "上海电梯维保 Shanghai Lift Service", at)
    return plan_announcement(site, NotifySettings(quiet_hours=quiet), Templates(), a)


def test_both_languages_to_the_buildings_owners_only() -> None:
    items = _announce(START - timedelta(days=1))
    assert items and {i.recipient for i in items} <= {o.name for o in SITE.owners_of("b1")}
    text = items[0].title + items[0].body
    assert "计划维保" in text and "planned maintenance" in text
    assert "03月05日 09:00" in text and "05 Mar 11:00" in text and "Shanghai Lift Service" in text
    assert items[0].release_at is None  # 09:00 the day before: at once


@pytest.mark.parametrize(("quiet", "held"), [(True, True), (False, False)])
def test_quiet_hours_hold_it_until_morning(quiet: bool, held: bool) -> None:
    late = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    (item, *_) = _announce(late, Moment.DONE, quiet=quiet, lang="en")
    assert "maintenance done" in item.title
    if held:
        assert item.quiet and item.release_at == datetime(2025, 3, 4, 23, 0, tzinfo=UTC)  # 07:00 local
    else:
        assert item.release_at is None
