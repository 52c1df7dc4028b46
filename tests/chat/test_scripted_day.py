"""A scripted day of chat in the demo's groups, through the route, into the real alert engine (SQLite and
PostgreSQL): each rung of the ladder opens its alert at the right event time, a complaint joins the open
alert's ticket, and a complaint no sensor confirms becomes "owners report, sensors silent"."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from facwatch.model import Reading, ms_from_utc
from tests.api.fakes import T0
from tests.chat.conftest import Desk


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def opened(desk: Desk, kind: str) -> list[dict[str, Any]]:
    return [a for a in desk.alerts(state="firing") if a["kind"] == kind]


def entrapment(desk: Desk, asset: str, when: datetime) -> None:
    values = {"in_door_zone": 0.0, "speed_mps": 0.0, "running": 0.0, "alarm_button": 1.0, "load_kg": 80.0}
    desk.service.observe([Reading("lakeside", asset, ch, ms_from_utc(when), v) for ch, v in values.items()])


def test_complaints_pile_up_the_steward_then_the_crisis(any_desk: Desk) -> None:
    desk = any_desk
    script = [
        (0, "b1-owners", "电梯又坏了，无语"),  # 2 keywords
        (5, "b1-owners", "今天天气不错"),  # chatter
        (9, "b1-owners", "又停水了，投诉"),  # 2 more: 4
    ]
    for n, (minute, group, text) in enumerate(script):
        assert desk.say(group, f"d{n}", text, at(minute)).status_code == 201
    assert opened(desk, "owners.complaints") == []  # four keywords: not yet
    assert desk.say("b1-owners", "d3", "门禁天天坏，服了", at(12)).status_code == 201  # the fifth and sixth
    [steward] = opened(desk, "owners.complaints")
    assert (steward["asset"], steward["building"], steward["level"]) == ("owners-b1", "b1", "yellow")
    assert "刘管家" in steward["summary"]
    assert datetime.fromisoformat(steward["opened_at"]) == at(12)  # event time of the fifth keyword
    assert opened(desk, "owners.crisis") == []
    for n, text in enumerate(["2号楼又停电了，垃圾物业", "停电停了两个小时还没来电，什么情况", "投诉！"]):
        desk.say("b2-owners", f"e{n}", text, at(20 + n))
    [crisis] = opened(desk, "owners.crisis")
    assert crisis["level"] == "red" and "应急预案" in crisis["summary"]


def test_a_negative_mood_for_an_hour_calls_the_project_manager(any_desk: Desk) -> None:
    desk = any_desk
    for n, minute in enumerate((0, 20, 35, 50)):
        desk.say("b2-owners", f"m{n}", "物业太差劲了，烦死了", at(minute))
    assert opened(desk, "owners.mood") == []  # 50 minutes of anger is not an hour yet
    desk.say("b2-owners", "m9", "还是没人回复，无语", at(61))
    [mood] = opened(desk, "owners.mood")
    assert mood["level"] == "orange" and "赵经理" in mood["summary"]


def test_a_complaint_about_a_machine_joins_its_open_alert(any_desk: Desk) -> None:
    desk = any_desk
    entrapment(desk, "b1-elev-1", at(0))
    [alert] = desk.alerts(state="firing")
    answer = desk.say("b1-owners", "j1", "1单元电梯困人了！快来人！！", at(1))
    assert answer.status_code == 201
    assert answer.json()["ticket_id"] == alert["ticket_id"]
    ticket = desk.http.get(f"/api/v1/tickets/{alert['ticket_id']}", headers=desk.headers).json()
    notes = [entry for entry in ticket["timeline"] if "1单元电梯困人了" in (entry.get("note") or "")]
    assert notes and notes[0]["actor"] == "owners-chat"
    assert opened(desk, "owners.sensors_silent") == []


def test_owners_report_sensors_silent(any_desk: Desk) -> None:
    desk = any_desk
    desk.say("b2-owners", "s1", "2单元电梯不动了，停在8楼", at(0))
    desk.say("b2-owners", "s2", "有人在吗", at(5))
    assert opened(desk, "owners.sensors_silent") == []  # the sensors have silent_s (15 min) to agree
    desk.say("b2-owners", "s3", "好的", at(16))
    [silent] = opened(desk, "owners.sensors_silent")
    assert silent["asset"] == "b2-elev-2"  # 2单元 names the machine
    assert "sensors silent" in silent["summary"]


def test_the_sensors_silent_alert_holds_while_owners_complain_and_takes_their_complaints(
    any_desk: Desk,
) -> None:
    desk = any_desk
    desk.say("b2-owners", "k1", "2单元电梯不动了，停在8楼", at(0))
    desk.say("b2-owners", "k2", "好的", at(16))
    [silent] = opened(desk, "owners.sensors_silent")
    answer = desk.say("b2-owners", "k3", "2单元电梯还是坏的", at(20))  # a later complaint joins its ticket
    assert answer.json()["ticket_id"] == silent["ticket_id"]
    assert [a["id"] for a in opened(desk, "owners.sensors_silent")] == [silent["id"]]  # still firing
