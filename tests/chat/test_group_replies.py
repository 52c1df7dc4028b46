"""facwatch speaks in the owners' groups through their robots, and calls the ladder's people (docs/owners.md).

A real HTTP receiver stands in for each robot and person (apprise ``json://``); the outbox and its
dispatcher deliver as in production. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.engine.db import notifications, utc
from alerts.engine.ports import ActionRequest
from alerts.notify.audiences import Planner
from alerts.notify.chat_replies import ChatReplies, Complaint, mention_url, tell_chat_groups
from alerts.notify.messages import Templates
from alerts.notify.outbox import Dispatcher
from facwatch.config import NotifySettings
from facwatch.model import AssetKind, Finding, Level, Site, TicketAction, ms_from_utc
from tests.alerts.helpers import DATABASES
from tests.api.fakes import T0
from tests.chat.conftest import Desk, _desk, demo_site
from tests.fixtures.postgres import state_engine as state_engine_on
from tests.fixtures.receivers import HttpReceiver
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.integration


CODE = "QJ9N-39Y3"
"""The check-in code posted at b1-elev-1 (the demo site)."""


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def robots_site(tmp_path: Path, url: str) -> Site:
    """The demo site with a robot in each group and the steward and manager reachable at the receiver."""
    site = demo_site(tmp_path)
    groups = tuple(
        dataclasses.replace(g, robot=f"{url}{g.id}", steward_mobile="13800000000") for g in site.chat.groups
    )
    people = tuple(
        dataclasses.replace(p, notify=(f"{url}{p.id}",), lang="zh+en")
        if p.id in ("stw-liu", "mgr-zhao")
        else p
        for p in site.people
    )
    return dataclasses.replace(site, chat=dataclasses.replace(site.chat, groups=groups), people=people)


@pytest.fixture(params=DATABASES)
def robots(request: pytest.FixtureRequest, tmp_path: Path, http_receiver: HttpReceiver) -> Iterator[Desk]:
    for engine in state_engine_on(request, tmp_path):
        yield from _desk(engine, tmp_path, robots_site(tmp_path, http_receiver.url))


def deliver(desk: Desk, now: datetime) -> None:
    """One round of the delivery loop: acknowledgements queued, then everything due sent."""
    tell_chat_groups(desk.engine, desk.site, now, NotifySettings())
    Dispatcher(desk.engine).deliver_pending(now)


def heard(
    receiver: HttpReceiver, n: int, path: str, desk: Desk | None = None, now: datetime | None = None
) -> list[str]:
    """The first ``n`` messages (title and body) that reached ``path``. With ``desk`` and ``now``, delivery
    rounds run meanwhile, each a minute later (a send that timed out on a loaded machine is retried)."""
    rounds = [0]

    def arrived() -> bool:
        if desk is not None and now is not None:
            rounds[0] += 1
            deliver(desk, now + timedelta(minutes=rounds[0]))
        return receiver.paths.count(path) >= n

    wait_until(arrived, 30, f"{n} messages at {path}")
    return [_text(m) for p, m in zip(receiver.paths, receiver.received, strict=True) if p == path][:n]


def _text(message: Any) -> str:
    return f"{message.get('title', '')}\n{message.get('message', '')}"


def entrapment(desk: Desk, active: bool, when: datetime) -> None:
    finding = Finding(
        "lakeside", "b1-elev-1", "elevator.entrapment", ms_from_utc(when), active, Level.RED, "trapped"
    )
    desk.service.observe_findings([finding], when)


def test_the_group_hears_ack_plan_b_and_all_clear_of_the_ticket_it_complained_about(
    robots: Desk, http_receiver: HttpReceiver
) -> None:
    desk = robots
    entrapment(desk, True, at(0))
    [alert] = desk.alerts(state="firing")
    ticket = alert["ticket_id"]
    script = [  # (minute, message id, text): the owners of building 1 at 16:00 local time
        (1, "g1", "1单元电梯困人了！快来人！！"),
        (2, "g2", "电梯又坏了，无语"),  # the same thread: no second acknowledgement
    ]
    for minute, msg_id, text in script:
        assert desk.say("b1-owners", msg_id, text, at(minute)).json()["ticket_id"] == ticket
        deliver(desk, at(minute))
    [ack] = heard(http_receiver, 1, "/b1-owners", desk, at(2))
    assert "收到" in ack and ticket in ack and "Received" in ack  # zh+en, naming the ticket
    for minute, request in [
        (3, ActionRequest(TicketAction.ACKNOWLEDGE, "eng-wang")),
        (4, ActionRequest(TicketAction.CHECK_IN, "eng-wang", checkin_code=CODE)),
        (5, ActionRequest(TicketAction.PROGRESS, "eng-wang", percent=40, eta=at(30))),
    ]:
        desk.service.act(ticket, request, at(minute))
    plan_b = "工作人员在大堂协助住户走楼梯 · staff help residents with the stairs"
    request = ActionRequest(TicketAction.PLAN_B, "eng-wang", plan_b=plan_b)
    desk.service.act(ticket, request, at(6))
    deliver(desk, at(6))
    entrapment(desk, False, at(20))
    desk.service.act(ticket, ActionRequest(TicketAction.RESOLVE, "eng-wang", note="门机复位"), at(21))
    deliver(desk, at(22))
    messages = heard(http_receiver, 6, "/b1-owners", desk, at(22))
    expected = [  # what the group reads, in order: the owners' own templates, zh and en
        ("收到", "Received"),  # the acknowledgement
        ("救援工程师已在路上", "on the way"),
        ("救援工程师已到场", "on site"),
        ("已完成40%", "40 % done"),  # progress with its ETA
        ("协助住户走楼梯", "Meanwhile"),  # plan B
        ("电梯已恢复", "the elevator is back"),  # the all-clear
    ]
    assert expected[0][0] in messages[0]  # the acknowledgement first
    for zh, en in expected:  # then each step once (a retried send may arrive after a later one)
        assert len([m for m in messages if zh in m and en in m]) == 1, (zh, messages)
    assert http_receiver.paths.count("/b2-owners") == 0  # building 2 complained about nothing


def test_an_unjoined_complaint_is_acknowledged_once_and_quiet_hours_hold_it(
    robots: Desk, http_receiver: HttpReceiver
) -> None:
    desk = robots
    night = datetime.fromisoformat("2024-05-01T23:30:00+08:00")  # 23:30 in Shanghai: quiet hours
    desk.say("b2-owners", "q1", "又停水了，投诉", night)
    deliver(desk, night)
    morning = datetime.fromisoformat("2024-05-02T07:00:00+08:00")
    with desk.engine.connect() as conn:  # the night's reply is in the outbox, held for the morning
        [(status, release_at)] = conn.execute(
            select(notifications.c.status, notifications.c.release_at).where(
                notifications.c.recipient == "b2-owners"
            )
        ).all()
    assert status == "held" and utc(release_at) == morning
    desk.say("b1-owners", "q2", "电梯又坏了", morning)  # a new thread in another group, in the morning
    deliver(desk, morning)
    first, *_ = heard(http_receiver, 1, "/b1-owners", desk, morning)
    assert "收到" in first
    [held] = heard(
        http_receiver, 1, "/b2-owners", desk, morning
    )  # the night's acknowledgement went out at 07:00 too
    assert "供水" in held and "water supply" in held


def test_the_steward_is_called_and_mentioned_and_a_crisis_carries_the_plan(
    robots: Desk, http_receiver: HttpReceiver
) -> None:
    desk = robots
    for n, text in enumerate(["电梯又坏了，无语", "又停水了，投诉", "门禁天天坏，服了"]):
        desk.say("b1-owners", f"s{n}", text, at(n))
    deliver(desk, at(3))
    [told] = heard(http_receiver, 1, "/stw-liu", desk, at(3))
    assert "刘管家" in told and "b1" not in told.split("\n")[0] and "请到群里回应业主" in told
    messages = heard(
        http_receiver, 2, "/b1-owners", desk, at(3)
    )  # the acknowledgement, then the steward @-mentioned
    assert any("@" in m and "管家" in m for m in messages)
    for n, text in enumerate(["2号楼又停电了，垃圾物业", "停电停了两个小时还没来电，什么情况", "投诉！"]):
        desk.say("b2-owners", f"e{n}", text, at(10 + n))
    deliver(desk, at(13))
    crisis = [m for m in heard(http_receiver, 1, "/mgr-zhao", desk, at(13)) if "应急预案" in m]
    assert crisis and "检查清单" in crisis[0] and "说明稿" in crisis[0]
    assert "Holding statement" in crisis[0] and "no arguing" in crisis[0]


@pytest.mark.parametrize(
    ("robot", "mobile", "url"),
    [
        ("dingtalk://abc123/", "13800000000", "dingtalk://abc123/13800000000/"),  # at.atMobiles
        (
            "dingtalk://sec@abc123?format=text",
            "13800000000",
            "dingtalk://sec@abc123/13800000000/?format=text",
        ),
        ("dingtalk://abc123/", "", "dingtalk://abc123/"),  # nobody to mention
        ("feishu://hook", "13800000000", "feishu://hook"),  # no mention through the robot: in the text
    ],
)
def test_mention_url(robot: str, mobile: str, url: str) -> None:
    assert mention_url(robot, mobile) == url


@pytest.mark.parametrize(
    ("level", "held"),
    [
        (None, True),  # a complaint no alert confirms: held for the morning
        (Level.YELLOW, True),  # joined to a YELLOW ticket: held too
        (Level.RED, False),  # joined to a RED ticket (people trapped): answered at once, even at night
    ],
)
def test_quiet_hours_hold_every_acknowledgement_but_a_red_one(
    tmp_path: Path, level: Level | None, held: bool
) -> None:
    site = robots_site(tmp_path, "json://127.0.0.1:9/")
    settings = NotifySettings()
    replies = ChatReplies(site, settings, Planner(site, settings, Templates()))
    night = datetime.fromisoformat("2024-05-01T23:30:00+08:00")
    ticket = "T-000001" if level is not None else None
    complaint = Complaint("n1", "b1-owners", night, AssetKind.ELEVATOR, ticket, level, "b1-elev-1")
    item = replies.acknowledgement(site.chat.groups[0], complaint)
    assert item is not None and item.quiet is held
    assert item.release_at == (datetime.fromisoformat("2024-05-02T07:00:00+08:00") if held else None)


def test_the_manager_hears_of_a_groups_mood_and_the_owners_never_do(
    robots: Desk, http_receiver: HttpReceiver
) -> None:
    desk = robots
    for n, minute in enumerate((0, 20, 35, 50, 61)):
        desk.say("b2-owners", f"m{n}", "物业太差劲了，烦死了", at(minute))
    [told] = heard(http_receiver, 1, "/mgr-zhao", desk, at(61))
    assert "负面情绪" in told and "step in" in told
    with desk.engine.connect() as conn:  # the mood's outbox rows are written with its alert: staff only
        audiences = conn.execute(
            select(notifications.c.audience).where(notifications.c.asset == "owners-b2")
        ).all()
    assert audiences and all(a != "owners" for (a,) in audiences)
