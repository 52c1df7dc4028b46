"""SLAs per category: the site file's ``[owner_sla.<category>]`` deadlines are an owner ticket's clocks,
and a leak's on-site clock that runs out escalates it at the report's event time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from facwatch.errors import ConfigError
from facwatch.model import DEFAULT_OWNER_SLA as DEFAULT_SLA
from facwatch.model import CategorySla
from facwatch.state import migrate, open_engine
from tests.owners.conftest import T0, Owners, leak_site, owners_over

LEAK_20_MIN = """
[owner_sla.leak]
on_site_s = 1200
fixed_s = 0          # switched off

[owner_sla.noise]
acknowledge_s = 1800
"""


@pytest.fixture
def leaky(tmp_path: Path) -> Iterator[Owners]:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield from owners_over(engine, tmp_path, leak_site(tmp_path, LEAK_20_MIN))
    engine.dispose()


def _ticket(owners: Owners, ticket_id: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {owners.staff['engineer']}"}
    answer = owners.client.get(f"/api/v1/tickets/{ticket_id}", headers=headers)
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()
    return result


def _escalations(owners: Owners, ticket_id: str) -> list[str]:
    timeline = _ticket(owners, ticket_id)["timeline"]
    assert isinstance(timeline, list)
    return [e["note"] for e in timeline if e["action"] == "escalated"]


def test_the_site_files_leak_deadline_drives_the_escalation_at_event_time(leaky: Owners) -> None:
    ticket_id = leaky.report(category="leak").json()["ticket"]
    deadlines = _ticket(leaky, ticket_id)["deadlines"]
    assert isinstance(deadlines, dict)
    assert datetime.fromisoformat(deadlines["on_site"]) == T0 + timedelta(minutes=20)
    assert deadlines["fixed"] is None  # 0 in the site file switches the clock off
    headers = {"Authorization": f"Bearer {leaky.staff['engineer']}"}
    leaky.client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "acknowledge"}, headers=headers)

    leaky.service.tick(T0 + timedelta(minutes=20) - timedelta(seconds=1))
    assert _escalations(leaky, ticket_id) == []  # the sweep ran: nothing is due before the deadline
    leaky.service.tick(T0 + timedelta(minutes=20, seconds=1))
    [note] = _escalations(leaky, ticket_id)
    assert note.startswith("escalated: on-site clock ran out")


def test_a_category_without_its_own_table_keeps_the_defaults(leaky: Owners) -> None:
    noise = _ticket(leaky, leaky.report(category="noise", text="楼上装修噪音").json()["ticket"])["deadlines"]
    assert isinstance(noise, dict)
    assert datetime.fromisoformat(noise["acknowledge"]) == T0 + timedelta(minutes=30)
    assert datetime.fromisoformat(noise["fixed"]) == T0 + timedelta(hours=72)  # from the defaults
    power = _ticket(leaky, leaky.report(category="power", text="走廊没电").json()["ticket"])["deadlines"]
    assert isinstance(power, dict)
    assert datetime.fromisoformat(power["on_site"]) == T0 + timedelta(
        seconds=DEFAULT_SLA["power"].on_site_s or 0
    )
    assert datetime.fromisoformat(power["acknowledge"]) == T0 + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("[owner_sla.flood]\non_site_s = 60", "owner_sla.flood"),  # an unknown category
        ("[owner_sla.leak]\non_site = 60", "owner_sla.leak.on_site"),  # a misspelt key
        ("[owner_sla.leak]\nacknowledge_s = -5", "owner_sla.leak.acknowledge_s"),  # not a duration
    ],
)
def test_a_bad_owner_sla_table_names_its_key(tmp_path: Path, table: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        leak_site(tmp_path, table)


def test_the_demo_site_has_every_category_with_its_defaults(tmp_path: Path) -> None:
    site = leak_site(tmp_path)
    assert site.owner_sla.of("leak") == DEFAULT_SLA["leak"]
    assert site.owner_sla.of("water") == DEFAULT_SLA["other"] == CategorySla()


def test_the_sla_report_per_category_counts_the_missed_on_site_deadline(leaky: Owners) -> None:
    late = leaky.report(category="leak").json()["ticket"]
    leaky.report(category="noise", text="楼上装修噪音")
    leaky.service.tick(T0 + timedelta(minutes=21))  # the leak's 20-minute on-site clock ran out
    leaky.clock.advance(3600)
    headers = {"Authorization": f"Bearer {leaky.staff['manager']}"}
    answer = leaky.client.get("/api/v1/reports/owner-sla", headers=headers)
    assert answer.status_code == 200, answer.text
    rows = {r["category"]: r for r in answer.json()["rows"]}
    assert set(rows) == {"leak", "noise"}
    assert (rows["leak"]["tickets"], rows["leak"]["on_site_target_s"], rows["leak"]["arrive_breaches"]) == (
        1,
        1200,
        1,
    )
    assert rows["noise"]["arrive_breaches"] == 0 and rows["noise"]["on_site_target_s"] is None
    assert late.startswith("T-")
    viewer = {"Authorization": f"Bearer {leaky.staff['viewer']}"}
    assert leaky.client.get("/api/v1/reports/owner-sla", headers=viewer).status_code == 403
