"""From the engine's notices to what each audience receives, through the outbox and apprise to a real HTTP
receiver: who hears what, in which language, grouped in a storm, merged updates, quiet hours on event time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from alerts.engine.db import new_pk, notifications, tickets
from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.outbox import Dispatcher, OutboxNotifier
from facwatch.config import NotifySettings, load_site
from facwatch.model import Level, Site
from tests.alerts.helpers import Harness, demo_site
from tests.fixtures.postgres import state_engine
from tests.fixtures.receivers import HttpReceiver

DAY = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
NIGHT = datetime(2025, 3, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
MORNING = datetime(2025, 3, 1, 23, 0, tzinfo=UTC)  # 07:00 in Shanghai, the end of the quiet hours


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The state database: SQLite, and PostgreSQL 15 (a fresh database on the fixture's server)."""
    yield from state_engine(request, tmp_path)


def site_for(receiver: HttpReceiver, **langs: str) -> Site:
    """The demo compound, every audience posting to its own path; ``langs`` sets a language by id/building."""
    site = load_site("demo", variables={"data_dir": "/nonexistent"})
    people = tuple(
        dataclasses.replace(
            p, notify=(f"{receiver.url}{p.id}",), lang=langs.get(p.id.replace("-", "_"), p.lang)
        )
        for p in site.people
    )
    owners = tuple(
        dataclasses.replace(
            o, notify=(f"{receiver.url}owners-{o.building}",), lang=langs.get(o.building, "zh")
        )
        for o in site.owners
    )
    return dataclasses.replace(site, people=people, owners=owners)


class Flow:
    def __init__(self, engine: Engine, site: Site, receiver: HttpReceiver) -> None:
        self.engine, self.site, self.receiver = engine, site, receiver
        self.notifier = OutboxNotifier(site, settings=NotifySettings())
        self.dispatcher = Dispatcher(engine, site=site)
        self.tickets: dict[str, int] = {}

    def ticket(self, asset: str, level: Level) -> int:
        if asset not in self.tickets:
            a = self.site.asset(asset)
            assert a is not None
            with self.engine.begin() as conn:
                self.tickets[asset] = new_pk(
                    conn.execute(
                        insert(tickets).values(
                            site=self.site.id, asset=asset, building=a.building, kind="k", level=level.value,
                            state="open", title="t", created_at=DAY, updated_at=DAY, escalation_step=0,
                        )
                    )
                )  # fmt: skip
        return self.tickets[asset]

    def notice(self, kind: NoticeKind, asset: str, level: Level, at: datetime, **kw: Any) -> None:
        pk = self.ticket(asset, level)
        wang = self.site.person("eng-wang")
        assert wang is not None
        kw.setdefault("staff", () if kind is NoticeKind.FOLLOW_UP else (wang,))
        notice = Notice(
            kind=kind,
            key=f"T-{pk:06d}:{kind.value}:{kw.get('action')}:{at.timestamp()}",
            site=self.site.id,
            ticket_pk=pk,
            ticket=f"T-{pk:06d}",
            asset=self.site.asset(asset),
            level=level,
            summary=f"{asset} trapped" if level is Level.RED else f"{asset} fault",
            at=at,
            **kw,
        )
        with self.engine.begin() as conn:
            self.notifier.notify(conn, [notice], at)

    def deliver(self, at: datetime) -> dict[str, list[dict[str, Any]]]:
        """Deliver what is due at ``at``; returns everything received so far, by path."""
        self.dispatcher.deliver_pending(at, wait_s=10)  # until every send due has answered
        out: dict[str, list[dict[str, Any]]] = {}
        with self.receiver.lock:
            for path, body in zip(self.receiver.paths, self.receiver.received, strict=True):
                out.setdefault(path.strip("/"), []).append(body)
        return out


@pytest.fixture
def flow(engine: Engine, http_receiver: HttpReceiver) -> Flow:
    return Flow(engine, site_for(http_receiver, b2="en"), http_receiver)


ALL = (
    "b1-elev-1",
    "b1-elev-2",
    "b1-pump-1",
    "b1-panel",
    "b2-elev-1",
    "b2-elev-2",
    "b2-pump-1",
    "b2-fire-pump",
)


def test_an_outage_storm_sends_each_red_at_once_and_groups_the_rest_per_audience(
    flow: Flow, http_receiver: HttpReceiver
) -> None:
    for i, asset in enumerate(ALL):
        level = Level.RED if asset.endswith(("elev-1", "panel")) else Level.ORANGE
        flow.notice(NoticeKind.OPENED, asset, level, DAY + timedelta(milliseconds=100 * i))
    # RED has no group window: each goes at once, on its own.
    got = flow.deliver(DAY + timedelta(seconds=1))
    http_receiver.wait_for(6)
    assert [len(got[k]) for k in ("eng-wang", "owners-b1", "owners-b2")] == [3, 2, 1]
    assert all(m["title"].startswith("[RED] T-") for m in got["eng-wang"])
    # The ORANGE ones waited their window (10 s from the first) and leave as one message per audience.
    got = flow.deliver(DAY + timedelta(seconds=11))
    http_receiver.wait_for(9)
    engineer = got["eng-wang"][-1]
    assert engineer["title"].startswith("[ORANGE] 5 条告警与通知")
    lines = [line for line in engineer["message"].splitlines() if line.startswith("- ")]
    assert len(lines) == 5 and all("[ORANGE]" in line for line in lines)
    b1 = got["owners-b1"][-1]
    assert "（2条）" in b1["title"]
    assert "1号楼2单元电梯暂停服务" in b1["message"] and "2号楼" not in b1["message"]
    b2 = got["owners-b2"][-1]
    assert b2["title"] == "Lakeside Gardens: 3 notices"  # building 2's owners read English
    assert "Building 2 unit 2 elevator: service interrupted" in b2["message"] and "1号楼" not in b2["message"]
    assert "Building 1" not in b2["message"]
    # Nothing more goes out later: the members were merged.
    assert sum(len(v) for v in flow.deliver(DAY + timedelta(minutes=5)).values()) == 9


def test_engineer_messages_never_reach_owners(flow: Flow, http_receiver: HttpReceiver) -> None:
    flow.notice(NoticeKind.OPENED, "b1-elev-1", Level.RED, DAY, detail={"finding": "elevator.entrapment"})
    got = flow.deliver(DAY + timedelta(seconds=2))
    http_receiver.wait_for(2)
    (engineer,), (owners,) = got["eng-wang"], got["owners-b1"]
    assert engineer["title"] == "[RED] T-000001 1号楼1单元电梯"
    assert "红色告警：电梯困人" in engineer["message"]  # the finding in Chinese, not the English summary
    assert "请于 16:01:00 前确认" not in engineer["message"]  # no deadlines were given in this notice
    assert "编号 N" in engineer["message"]
    for words in (owners["title"], owners["message"]):
        assert (
            "T-0" not in words and "RED" not in words and "QJ9N-39Y3" not in words and "trapped" not in words
        )
    assert owners["title"] == "1号楼1单元电梯有人被困，正在紧急救援"
    with flow.engine.connect() as conn:
        rows = list(
            conn.execute(select(notifications.c.audience, notifications.c.recipient, notifications.c.title))
        )
    for audience, recipient, title in rows:
        assert (audience == "owners") == recipient.startswith(("1号楼业主群", "2号楼业主群"))
        assert (audience == "owners") != title.startswith("[")


TOOK = DAY - timedelta(minutes=25)  # 15:35 in Shanghai
ARRIVED = DAY - timedelta(minutes=20)  # 15:40
NEXT_STEP = [
    # asset, what the ticket the alert joins already has, the engineer's instruction line (zh, en)
    ("b1-elev-1", {},  # a new ticket: acknowledge, then prove arrival
     "先确认，到场后用设备上张贴的编码签到。", "acknowledge, then check in at the asset with the posted code."),
    ("b1-elev-2", {"acknowledged_at": TOOK},  # someone took it: no second acknowledgement
     "到场后用设备上张贴的编码签到。", "check in at the asset with the posted code on arrival."),
    ("b1-pump-1", {"acknowledged_at": TOOK, "on_site_at": ARRIVED},  # an engineer is there: no check-in
     "已在现场的工程师一并处理此告警，无需再次签到。",
     "the engineer already on site handles this alert too; no new check-in is needed."),
]  # fmt: skip


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_engineers_alert_asks_only_for_what_the_ticket_still_needs(
    engine: Engine, http_receiver: HttpReceiver, lang: str
) -> None:
    """An alert that joins a ticket already taken, or with an engineer on site, does not tell the engineer to
    acknowledge and check in: the message received says what applies then, in the engineer's language."""
    flow = Flow(engine, site_for(http_receiver, eng_wang=lang), http_receiver)
    dues = {"ack_due": DAY + timedelta(minutes=1), "on_site_due": DAY + timedelta(minutes=3)}
    for asset, has, _, _ in NEXT_STEP:
        flow.notice(NoticeKind.OPENED, asset, Level.RED, DAY, detail={**dues, **has})
    flow.deliver(DAY + timedelta(seconds=2))
    http_receiver.wait_for(6)  # three engineer alerts, three owner messages (RED: at once)
    got = {m["title"].split()[1]: m["message"] for m in flow.deliver(DAY + timedelta(seconds=2))["eng-wang"]}
    ask = {"zh": ("先确认", "到场后用"), "en": ("acknowledge,", "posted code")}[lang]
    for (asset, has, zh, en), (ticket, message) in zip(NEXT_STEP, sorted(got.items()), strict=True):
        lines = message.splitlines()
        assert (f"工单 {ticket}：{zh}" if lang == "zh" else f"Ticket {ticket}: {en}") in lines, (asset, lines)
        if "on_site_at" in has:
            assert not any(word in message for word in ask), message
            arrived = (
                "工程师已于 15:40:00 到场。"
                if lang == "zh"
                else "an engineer has been on site since 15:40:00."
            )
            assert arrived in message
        elif "acknowledged_at" in has:
            assert ask[0] not in message, message


def test_progress_plan_b_all_clear_and_follow_up_in_plain_words(
    flow: Flow, http_receiver: HttpReceiver
) -> None:
    t = DAY
    flow.notice(NoticeKind.ACTION, "b1-elev-2", Level.ORANGE, t, action="progress",
                detail={"percent": 50, "eta": t + timedelta(minutes=12)})  # fmt: skip
    got = flow.deliver(t + timedelta(seconds=10))
    http_receiver.wait_for(2)
    assert (
        "1号楼2单元电梯维修进展：已完成50%，预计还需12分钟（约 16:12 恢复）。"
        in got["owners-b1"][0]["message"]
    )
    assert "（已完成50%，预计还需12分钟）" in got["eng-wang"][0]["message"]
    t += timedelta(minutes=1)
    flow.notice(NoticeKind.ACTION, "b2-elev-2", Level.ORANGE, t, action="plan_b",
                detail={"plan_b": "security staff help elderly and pregnant residents with the stairs",
                        "eta": t + timedelta(hours=2)})  # fmt: skip
    got = flow.deliver(t + timedelta(seconds=10))
    http_receiver.wait_for(4)
    (plan_b,) = got["owners-b2"]
    assert plan_b["title"] == "Building 2 unit 2 elevator: the repair takes longer"
    assert (
        "Expected back at 18:01 (about 120 minutes). Meanwhile: security staff help elderly"
        in plan_b["message"]
    )
    t += timedelta(minutes=1)
    flow.notice(NoticeKind.ACTION, "b1-elev-2", Level.ORANGE, t, action="resolve")
    got = flow.deliver(t + timedelta(seconds=10))
    http_receiver.wait_for(6)
    assert (
        "1号楼2单元电梯已恢复服务。工程师已完成检修，系统读数已恢复正常。" in got["owners-b1"][-1]["message"]
    )
    t += timedelta(days=1)
    flow.notice(NoticeKind.FOLLOW_UP, "b1-elev-2", Level.ORANGE, t)
    got = flow.deliver(t + timedelta(seconds=10))
    http_receiver.wait_for(7)
    assert "今天使用是否一切正常" in got["owners-b1"][-1]["message"]
    assert len(got["eng-wang"]) == 3  # the follow-up is for the owners


def test_updates_of_one_ticket_within_the_window_are_merged(flow: Flow, http_receiver: HttpReceiver) -> None:
    flow.notice(NoticeKind.ACTION, "b1-pump-1", Level.ORANGE, DAY, action="dispatch")
    flow.notice(NoticeKind.ACTION, "b1-pump-1", Level.ORANGE, DAY + timedelta(seconds=3), action="check_in")
    flow.notice(NoticeKind.ACTION, "b1-pump-1", Level.ORANGE, DAY + timedelta(seconds=6), action="progress",
                detail={"percent": 30})  # fmt: skip
    assert flow.deliver(DAY + timedelta(seconds=9)) == {}  # the window is 10 s from the first
    got = flow.deliver(DAY + timedelta(seconds=10))
    http_receiver.wait_for(1)
    (engineer,) = got["eng-wang"]
    assert "3 条告警与通知" in engineer["title"]
    for word in ("已派工", "已到场", "维修进展"):
        assert word in engineer["message"]
    # The owners hear of the dispatch (an engineer on the way), the arrival and the progress, in one message.
    (owners,) = got["owners-b1"]
    assert owners["title"] == "翠湖花园物业通知（3条）"
    assert owners["message"] == (
        "- 1号楼生活水泵：工程师已在路上\n- 1号楼生活水泵：工程师已到场\n- 1号楼生活水泵维修进展"
    )
    assert flow.deliver(DAY + timedelta(seconds=16)) == got  # nothing more


def test_quiet_hours_hold_owner_updates_for_a_morning_digest_but_red_goes_at_once(
    flow: Flow, http_receiver: HttpReceiver
) -> None:
    flow.notice(
        NoticeKind.ACTION, "b1-elev-2", Level.ORANGE, NIGHT, action="progress", detail={"percent": 40}
    )
    got = flow.deliver(NIGHT + timedelta(seconds=10))
    assert list(got) == ["eng-wang"]  # the engineer hears at once; the owners sleep
    flow.notice(NoticeKind.ACTION, "b1-elev-2", Level.ORANGE, NIGHT + timedelta(minutes=40), action="resolve")
    flow.notice(NoticeKind.OPENED, "b1-elev-1", Level.RED, NIGHT + timedelta(minutes=50))
    got = flow.deliver(NIGHT + timedelta(minutes=50, seconds=2))
    http_receiver.wait_for(3)
    assert [m["title"] for m in got["owners-b1"]] == ["1号楼1单元电梯暂停服务"]  # RED safety: at once
    assert len(flow.deliver(MORNING - timedelta(seconds=1))["owners-b1"]) == 1
    got = flow.deliver(MORNING)
    http_receiver.wait_for(4)
    digest = got["owners-b1"][-1]
    assert digest["title"] == "翠湖花园物业通知（2条）"
    assert "1号楼2单元电梯维修进展" in digest["message"] and "1号楼2单元电梯已恢复" in digest["message"]


def test_quiet_hours_are_on_event_time_and_can_be_turned_off(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = site_for(http_receiver)
    for quiet, expected in ((True, []), (False, ["owners-b1"])):
        flow = Flow(engine, site, http_receiver)
        flow.notifier = OutboxNotifier(site, settings=NotifySettings(quiet_hours=quiet))
        flow.tickets = {}
        # Delivered in the afternoon (a replay), but the event happened at night: it waits all the same.
        flow.notice(NoticeKind.ACTION, "b1-elev-2", Level.ORANGE, NIGHT, action="resolve", staff=())
        got = flow.deliver(NIGHT + timedelta(seconds=10))
        assert [p for p in got if p.startswith("owners")] == expected


def test_owners_hear_only_about_their_own_unit_when_the_site_says_so(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = site_for(http_receiver)
    unit2 = dataclasses.replace(site.owners[0], name="1号楼2单元业主", assets=("b1-elev-2",),
                                notify=(f"{http_receiver.url}unit2",))  # fmt: skip
    flow = Flow(engine, dataclasses.replace(site, owners=(*site.owners, unit2)), http_receiver)
    flow.notice(NoticeKind.OPENED, "b1-elev-1", Level.RED, DAY, staff=())
    got = flow.deliver(DAY + timedelta(seconds=2))
    assert list(got) == ["owners-b1"]
    flow.notice(NoticeKind.OPENED, "b1-elev-2", Level.RED, DAY + timedelta(minutes=1), staff=())
    got = flow.deliver(DAY + timedelta(minutes=1, seconds=2))
    http_receiver.wait_for(3)
    assert got["unit2"][0]["title"] == "1号楼2单元电梯暂停服务"


def test_levels_the_owners_do_not_hear_about(flow: Flow) -> None:
    flow.notice(NoticeKind.OPENED, "b1-pump-1", Level.YELLOW, DAY)
    got = flow.deliver(DAY + timedelta(seconds=10))
    assert list(got) == ["eng-wang"]


# --- owners are told only what is true ------------------------------------------------------------------------


def test_owners_hear_an_engineer_is_on_the_way_only_once_someone_acknowledged_or_was_dispatched(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    flow = Flow(engine, site_for(http_receiver, b2="en"), http_receiver)
    for asset, on_the_way in (("b1-elev-1", "工程师已在路上"), ("b2-elev-1", "an engineer is on the way")):
        flow.notice(NoticeKind.OPENED, asset, Level.RED, DAY)
        opened = flow.deliver(DAY)[f"owners-{asset[:2]}"][-1]
        assert on_the_way not in opened["title"] + opened["message"]  # nobody has taken it on yet
        assert "在路上" not in opened["message"] and "on the way" not in opened["message"]
        flow.notice(NoticeKind.ACTION, asset, Level.RED, DAY + timedelta(seconds=20), action="acknowledge")
        told = flow.deliver(DAY + timedelta(seconds=20))[f"owners-{asset[:2]}"][-1]  # RED: at once
        assert on_the_way in told["title"]
        # The dispatch that follows is no news to the owners: they are told once per ticket.
        flow.notice(NoticeKind.ACTION, asset, Level.RED, DAY + timedelta(seconds=40), action="dispatch",
                    detail={"assignee": "eng-wang"})  # fmt: skip
        after = flow.deliver(DAY + timedelta(minutes=1))[f"owners-{asset[:2]}"]
        assert [m["title"] for m in after].count(told["title"]) == 1 and after[-1] == told


def test_a_digest_keeps_each_items_plan_b_and_eta(flow: Flow, http_receiver: HttpReceiver) -> None:
    t = DAY
    for asset in ("b1-elev-2", "b2-elev-2"):  # zh and en owners
        flow.notice(NoticeKind.ACTION, asset, Level.ORANGE, t, action="plan_b",
                    detail={"plan_b": "请走2单元楼梯" if asset[1] == "1" else "use the unit 1 stairs",
                            "eta": t + timedelta(hours=2)})  # fmt: skip
        flow.notice(NoticeKind.ACTION, asset, Level.ORANGE, t + timedelta(seconds=3), action="progress",
                    detail={"percent": 50, "eta": t + timedelta(minutes=90)})  # fmt: skip
    got = flow.deliver(t + timedelta(seconds=10))
    (zh,), (en,) = got["owners-b1"], got["owners-b2"]
    assert zh["message"] == (
        "- 1号楼2单元电梯维修时间延长（备用方案：请走2单元楼梯；预计 18:00 恢复）\n"
        "- 1号楼2单元电梯维修进展（预计 17:30 恢复）"
    )
    assert en["message"] == (
        "- Building 2 unit 2 elevator: the repair takes longer (plan B: use the unit 1 stairs; expected back 18:00)\n"
        "- Building 2 unit 2 elevator: repair progress (expected back 17:30)"
    )
    (engineer,) = got["eng-wang"]  # the engineer's digest keeps them too
    assert "备用方案：请走2单元楼梯；预计 18:00 恢复" in engineer["message"]
    assert (
        "plan B: use the unit 1 stairs; expected back 18:00" not in engineer["message"]
    )  # eng-wang reads zh
    assert "备用方案：use the unit 1 stairs；预计 18:00 恢复" in engineer["message"]


@pytest.mark.parametrize(
    ("finding", "zh_title", "en_title"),
    [
        ("power.voltage_sag", "1号楼供电异常", "Building 1: power supply problem"),  # a sag is not a cut
        ("power.voltage_swell", "1号楼供电异常", "Building 1: power supply problem"),  # nor a swell
        ("power.outage", "1号楼停电", "Building 1: power cut"),  # only an outage is
    ],
)
def test_only_a_power_outage_is_announced_to_owners_as_a_power_cut(
    engine: Engine, http_receiver: HttpReceiver, finding: str, zh_title: str, en_title: str
) -> None:
    flow = Flow(engine, site_for(http_receiver, b1="zh+en"), http_receiver)
    level = Level.RED if finding == "power.outage" else Level.ORANGE
    flow.notice(NoticeKind.OPENED, "b1-panel", level, DAY, detail={"finding": finding})
    (owners,) = flow.deliver(DAY + timedelta(seconds=10))["owners-b1"]
    assert owners["title"] == f"{zh_title} / {en_title}"
    cut = finding == "power.outage"
    assert ("停电" in owners["message"]) is cut and ("lost power" in owners["message"]) is cut


def test_a_voltage_sag_seen_by_the_engine_reaches_the_owners_as_a_supply_problem(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    h = Harness(engine, demo_site(http_receiver))
    normal = {"voltage_l1_v": 230, "voltage_l2_v": 230, "voltage_l3_v": 230, "current_l1_a": 100,
              "current_l2_a": 100, "current_l3_a": 100, "frequency_hz": 50, "power_factor": 0.95,
              "transformer_temp_c": 60}  # fmt: skip
    h.feed(normal, 0, 5, asset="b1-panel")
    h.feed({**normal, "voltage_l1_v": 195, "voltage_l2_v": 196, "voltage_l3_v": 194}, 5, 15, asset="b1-panel")
    (alert,) = h.service.list_alerts().items
    assert alert.kind == "power.voltage_sag"
    h.dispatcher.deliver_pending(h.at(60), wait_s=10)
    owners = dict(zip(http_receiver.paths, http_receiver.received, strict=True))["/owners-b1"]
    assert owners["title"] == "1号楼供电异常 / Building 1: power supply problem"
    assert "停电" not in owners["message"] and "power cut" not in owners["message"]


def test_the_owners_entrapment_conversation_arrives_in_order_and_true(
    flow: Flow, http_receiver: HttpReceiver
) -> None:
    """Through the outbox and apprise to a real receiver: who speaks in every message, the reassurance, the
    dispatch with its ETA, the arrival, the fix deadline told once, no all-clear over a firing alert."""
    a, t = "b1-elev-1", DAY
    trapped = {"finding": "elevator.entrapment"}
    flow.notice(NoticeKind.OPENED, a, Level.RED, t, detail=trapped)
    flow.notice(NoticeKind.ACTION, a, Level.RED, t + timedelta(minutes=1), action="dispatch",
                detail={**trapped, "assignee": "eng-wang", "eta": t + timedelta(minutes=30)})  # fmt: skip
    flow.notice(NoticeKind.ACTION, a, Level.RED, t + timedelta(minutes=8), action="check_in", detail=trapped)
    for step in (1, 2):  # the fix clock runs out, then reminds: the owners hear of it once
        late = {"reason": "escalated: fix clock ran out", "step": step}
        flow.notice(NoticeKind.ESCALATED, a, Level.RED, t + timedelta(minutes=40 + step), detail=late)
    flow.notice(NoticeKind.ACTION, a, Level.RED, t + timedelta(minutes=45), action="resolve",
                detail={**trapped, "override_reason": "the lift company says it is safe"})  # fmt: skip
    flow.notice(NoticeKind.ACTION, a, Level.RED, t + timedelta(minutes=50), action="resolve", detail=trapped)
    got = flow.deliver(t + timedelta(minutes=51))
    owners = [f"{m['title']}\n{m['message']}" for m in got["owners-b1"]]
    assert len(owners) == 5, owners
    opened, on_the_way, arrived, late_msg, resolved = owners
    assert "有人被困" in opened and "请保持冷静" in opened and "在路上" not in opened
    assert "已接单、已派单" in on_the_way and "救援工程师已在路上" in on_the_way
    assert "预计 16:30 恢复（约29分钟）" in on_the_way  # the ETA given at the dispatch
    assert "救援工程师已到场" in arrived
    assert "超出预计时间" in late_msg and "这是我们的责任" in late_msg
    assert "被困人员已离开轿厢" in resolved and "明天我们会再回访" in resolved
    for message in owners:
        assert "这里是翠湖花园物业服务中心" in message and "0571-8888 6666" in message
        assert "谅解" not in message and "请理解" not in message
    for message in owners[:-1]:
        assert "已恢复" not in message
