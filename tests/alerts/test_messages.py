"""The words (templates in files, both languages), the owners' audience and the quiet hours: pure, no I/O
beyond reading the template files once."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.engine.notices import Notice, NoticeKind
from alerts.notify.audiences import Planner, owner_groups, quiet_until
from alerts.notify.check import check_templates, sms_segments
from alerts.notify.conversations import EVERY_MOMENT, Script, conversation
from alerts.notify.messages import FIELDS, TEMPLATES, Templates, languages
from facwatch.cli import main
from facwatch.config import NotifySettings, load_site
from facwatch.errors import ConfigError
from facwatch.model import Level, Site
from scripts.render_conversations import BEGIN, END

SHANGHAI = "Asia/Shanghai"


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2025, 3, 1, 13, 59), None),  # 21:59 local: not yet
        (utc(2025, 3, 1, 14, 0), utc(2025, 3, 1, 23, 0)),  # 22:00 local: quiet until 07:00
        (utc(2025, 3, 1, 17, 30), utc(2025, 3, 1, 23, 0)),  # 01:30 local, after midnight
        (utc(2025, 3, 1, 22, 59), utc(2025, 3, 1, 23, 0)),  # 06:59 local
        (utc(2025, 3, 1, 23, 0), None),  # 07:00 local: awake
        (utc(2025, 3, 1, 4, 0), None),  # noon
    ],
)
def test_quiet_hours_across_midnight_in_the_site_time_zone(at: datetime, expected: datetime | None) -> None:
    assert quiet_until(at, SHANGHAI, "22:00", "07:00") == expected


def test_quiet_hours_within_one_day() -> None:
    assert quiet_until(utc(2025, 3, 1, 5), SHANGHAI, "12:00", "14:00") == utc(2025, 3, 1, 6)  # 13:00 local
    assert quiet_until(utc(2025, 3, 1, 7), SHANGHAI, "12:00", "14:00") is None  # 15:00 local


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_shipped_template_fills_all_its_fields(lang: str) -> None:
    templates = Templates()
    values = dict.fromkeys(FIELDS, "X")
    for name in TEMPLATES:
        for kind in (None, "elevator", "pump", "power", "power.outage"):
            message = templates.render_one(name, lang, values, kind)
            assert message.title and "$" not in message.title + message.body, (name, kind)


def test_languages_default_to_chinese() -> None:
    assert languages("zh+en") == ("zh", "en")
    assert languages("en") == ("en",)
    assert languages("fr") == ("zh",)


def test_a_site_template_directory_overrides_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "owner_resolved.txt").write_text(
        "${asset}好了\n\n${asset}修好了，谢谢。\n", encoding="utf-8"
    )
    templates = Templates(tmp_path)
    assert templates.render_one("owner_resolved", "zh", {"asset": "水泵"}).body == "水泵修好了，谢谢。"
    assert (
        templates.render_one("owner_resolved", "en", {"asset": "Pump"}).title == "Pump: restored"
    )  # shipped


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${assett}\n\nbody", "unknown field(s) assett"),
        ("50% done $ now\n\nbody", "a '$' that is not a ${field}"),
    ],
)
def test_a_broken_template_is_refused_with_its_file(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "owner_opened.txt").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"owner_opened\.txt") as info:
        Templates(tmp_path)
    assert error in str(info.value)


def test_a_missing_template_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        Templates(tmp_path / "nope")


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site("demo", variables={"data_dir": "/x"})


def test_owner_groups_are_of_the_assets_building_only(site: Site) -> None:
    asset = site.asset("b2-pump-1")
    assert asset is not None
    assert [g.building for g in owner_groups(site, asset)] == ["b2"]
    unit = dataclasses.replace(site.owners[1], name="2号楼1单元", assets=("b2-elev-1",))
    narrowed = dataclasses.replace(site, owners=(*site.owners, unit))
    assert [g.name for g in owner_groups(narrowed, asset)] == ["2号楼业主群 Building 2 owners"]
    elevator = site.asset("b2-elev-1")
    assert elevator is not None
    assert len(owner_groups(narrowed, elevator)) == 2


def notice(site: Site, **kw: object) -> Notice:
    base: dict[str, object] = {
        "kind": NoticeKind.ACTION,
        "key": "T-000001:x",
        "site": site.id,
        "ticket_pk": 1,
        "ticket": "T-000001",
        "asset": site.asset("b1-elev-1"),
        "level": Level.ORANGE,
        "summary": "s",
        "at": utc(2025, 3, 1, 8),
        "staff": (site.people[0],),
    }
    base.update(kw)
    return Notice(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("zh", "1号楼1单元电梯维修进展：已完成50%，预计还需12分钟（约 16:12 恢复）。"),
        ("en", "Building 1 unit 1 elevator repair: 50 % done, about 12 minutes left (back around 16:12)."),
    ],
)
def test_progress_with_percent_and_time_left(site: Site, lang: str, text: str) -> None:
    owners = dataclasses.replace(site.owners[0], lang=lang)
    planner = Planner(dataclasses.replace(site, owners=(owners,)), NotifySettings(), Templates())
    at = utc(2025, 3, 1, 8)
    items = planner.plan(
        notice(site, action="progress", detail={"percent": 50, "eta": at + timedelta(minutes=12)})
    )
    (owner,) = [i for i in items if i.audience == "owners"]
    assert text in owner.body


def test_ticket_link_and_readings_in_the_engineers_message(site: Site) -> None:
    settings = NotifySettings(board_url="https://fw.example.com/")
    planner = Planner(site, settings, Templates())
    opened = notice(
        site,
        kind=NoticeKind.OPENED,
        level=Level.RED,
        detail={"readings": {"speed_mps": 0.0, "load_kg": 150}, "ack_due": utc(2025, 3, 1, 8, 1)},
    )
    (engineer,) = [i for i in planner.plan(opened) if i.audience == "engineer"]
    assert "读数：速度 0 m/s，载重 150 kg" in engineer.body  # labels and units (issue 18)
    assert "请于 16:01:00 前确认" in engineer.body
    assert "https://fw.example.com/#ticket=T-000001" in engineer.body
    assert engineer.level == "red" and engineer.release_at is None  # RED: no group window, at once
    slow = Planner(site, NotifySettings(group_wait_red_s=2), Templates()).plan(opened)[0]
    assert slow.release_at == opened.at + timedelta(seconds=2)  # unless the site asks for one


def test_urgent_owner_messages_skip_the_quiet_hours(site: Site) -> None:
    planner = Planner(site, NotifySettings(), Templates())
    night = utc(2025, 3, 1, 16)  # 00:00 local
    for kind, action, level, quiet in [
        (NoticeKind.OPENED, None, Level.RED, False),  # a RED safety message goes at once
        (NoticeKind.ACTION, "plan_b", Level.RED, False),
        (NoticeKind.ACTION, "resolve", Level.RED, True),  # the all-clear can wait for the morning
        (NoticeKind.OPENED, None, Level.ORANGE, True),
    ]:
        items = planner.plan(notice(site, kind=kind, action=action, level=level, at=night))
        (owner,) = [i for i in items if i.audience == "owners"]
        assert owner.quiet is quiet, (kind, action, level)
        staff = [i for i in items if i.audience != "owners"]
        assert staff and not any(i.quiet for i in staff)


def test_site_file_languages_and_unit_groups_are_checked(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "facwatch" / "sites" / "demo.toml").read_text(encoding="utf-8")
    bad_lang = text.replace('lang = "zh+en"', 'lang = "fr"', 1)
    (tmp_path / "a.toml").write_text(bad_lang, encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"owners\[0\]\.lang: expected 'zh', 'en', 'zh\+en' or 'en\+zh', got 'fr'"
    ):
        load_site(tmp_path / "a.toml", {"data_dir": "/x"})
    other_building = text.replace('lang = "zh+en"', 'lang = "zh"\nassets = ["b2-elev-1"]', 1)
    (tmp_path / "b.toml").write_text(other_building, encoding="utf-8")
    with pytest.raises(ConfigError, match="asset 'b2-elev-1' is not in building 'b1'"):
        load_site(tmp_path / "b.toml", {"data_dir": "/x"})


def test_an_owners_report_without_an_asset_reaches_the_staff_but_not_the_building(site: Site) -> None:
    planner = Planner(site, NotifySettings(), Templates())
    report = notice(
        site,
        kind=NoticeKind.OPENED,
        asset=None,
        summary="漏水 2单元1201: 天花板漏水",
        detail={"source": "owner", "building": "b1", "category": "漏水", "unit": "2单元", "location": "1201"},
    )
    (item,) = planner.plan(report)
    assert item.audience == "engineer" and item.asset is None
    assert item.title == "[ORANGE] T-000001 漏水 2单元 1201"
    assert "设备：漏水 2单元 1201（—），1号楼" in item.body


def test_staff_updates_show_the_persons_words_once(site: Site) -> None:
    planner = Planner(site, NotifySettings(), Templates())
    at = utc(2025, 3, 1, 8)
    eta = at + timedelta(minutes=30)
    update = notice(
        site,
        action="plan_b",
        actor="eng-wang",
        note=f"parts on order; plan B: staff help on the stairs; ETA {eta.isoformat()}",
        detail={"plan_b": "staff help on the stairs", "eta": eta},
    )
    (engineer,) = [i for i in planner.plan(update) if i.audience == "engineer"]
    assert engineer.body.splitlines()[:2] == [
        "王工：启用备用方案：staff help on the stairs",
        "parts on order",
    ]
    follow_up = notice(site, kind=NoticeKind.FOLLOW_UP)
    (task,) = [i for i in planner.plan(follow_up) if i.audience == "engineer"]
    assert "回访（请询问业主是否一切正常）" in task.title


# --- the words that win trust (issue 19) -----------------------------------------------------------------------

FAMILIES = (
    "elevator.entrapment", "elevator.out_of_service", "pump.pipe_burst", "pump.tripped",
    "power.outage", "power.voltage_sag",
)  # fmt: skip
ACTION_WORDS = {
    "zh": {
        "opened": "已收到告警", "acknowledge": "已接单", "dispatch": "已派单", "check_in": "已到",
        "progress": "已完成", "plan_b": "在此期间", "escalated": "已升级", "resolve": "已恢复",
        "follow_up": "已经修复",
    },
    "en": {
        "opened": "has the alarm", "acknowledge": "taken on the report", "dispatch": "dispatched an engineer",
        "check_in": "arrived", "progress": "% done", "plan_b": "Meanwhile", "escalated": "following it up",
        "resolve": "back", "follow_up": "has been fixed",
    },
}  # fmt: skip
COMMITMENT = {"zh": "我们会", "en": "we will"}
WHEN_WE_TELL = {
    "zh": ("第一时间告诉您", "随时在这里告诉"),
    "en": ("tell you", "keep you posted", "keep everyone posted"),
}
EMPATHY = {
    "zh": ("抱歉", "麻烦", "着急", "歉意", "陪着您", "关注您的情况"),
    "en": ("sorry", "apologise", "worrying", "watching over you", "stay with you"),
}
ASKING_FOR_UNDERSTANDING = ("请理解", "谅解", "敬请", "understanding", "inconvenience")


def owners_conversation(site: Site, kind: str, lang: str) -> list[tuple[Notice, str]]:
    asset = {"elevator": "b1-elev-1", "pump": "b1-pump-1", "power": "b1-panel"}[kind.split(".")[0]]
    script = Script(kind, asset, kind, Level.RED, ())
    return [
        (notice, f"{item.title}\n{item.body}")
        for notice, items in conversation(site, Templates(), script, lang, steps=EVERY_MOMENT)
        for item in items
        if item.audience == "owners"
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", FAMILIES)
def test_every_owner_message_has_the_five_beats(site: Site, kind: str, lang: str) -> None:
    said = owners_conversation(site, kind, lang)
    moments = [n.action or n.kind.value for n, _ in said]
    assert moments == [
        "opened",
        "acknowledge",
        "check_in",
        "progress",
        "progress",
        "plan_b",
        "escalated",
        "resolve",
        "follow_up",
    ]  # fmt: skip  (the dispatch after the acknowledge says nothing new: "on the way" goes once)
    service = "翠湖花园物业服务中心" if lang == "zh" else "Lakeside Gardens service centre"
    for notice, text in said:
        moment = notice.action or notice.kind.value
        where = (kind, lang, moment)
        assert service in text and "0571-8888 6666" in text, where  # identity, and whom to call
        assert ACTION_WORDS[lang][moment] in text, where  # what has been done
        assert COMMITMENT[lang] in text.lower(), where  # a commitment
        assert not any(p in text for p in ASKING_FOR_UNDERSTANDING), where  # empathy, not asking for it
        if moment not in ("progress", "follow_up"):
            assert any(e in text for e in EMPATHY[lang]), where
        eta = notice.detail.get("eta")
        if isinstance(eta, datetime):  # the expectation: the time given, and nothing made up without one
            assert eta.astimezone(ZoneInfo(SHANGHAI)).strftime("%H:%M") in text, where
        elif moment in ("opened", "acknowledge", "check_in", "escalated"):
            assert not re.search(r"\d\d:\d\d", text), where
            assert any(w in text for w in WHEN_WE_TELL[lang]), where


def test_the_facts_are_the_tickets(site: Site) -> None:
    said = owners_conversation(site, "elevator.out_of_service", "zh")
    texts = [t for _, t in said]
    assert "在路上" not in texts[0] and "已接单" not in texts[0] and "已派单" not in texts[0]
    assert "已接单" in texts[1] and "已派单" not in texts[1]  # acknowledged, not dispatched
    assert all("已恢复" not in t for t in texts[:-2])  # "restored" only at resolve
    # Resolved over a firing alert (a manager's override): the sensors do not agree, so no all-clear.
    planner = Planner(site, NotifySettings(), Templates())
    override = notice(
        site, action="resolve", detail={"override_reason": "lift company on site", "finding": "x"}
    )
    assert [i.audience for i in planner.plan(override)] == ["engineer"]
    # The fix deadline passing is told to the owners once per ticket, however often the clock reminds.
    late = [
        notice(site, kind=NoticeKind.ESCALATED, key=f"T-000001:esc:{step}",
               detail={"reason": "escalated: fix clock ran out", "step": step})
        for step in (1, 2)
    ]  # fmt: skip
    keys = {i.key for n in late for i in planner.plan(n) if i.audience == "owners"}
    assert len(keys) == 1
    on_site_late = notice(
        site, kind=NoticeKind.ESCALATED, detail={"reason": "escalated: on-site clock ran out"}
    )
    assert [i.audience for i in planner.plan(on_site_late) if i.audience == "owners"] == []


def test_entrapment_reassures_the_people_inside(site: Site) -> None:
    (opened, _), *_ = owners_conversation(site, "elevator.entrapment", "zh")
    text = owners_conversation(site, "elevator.entrapment", "zh")[0][1]
    assert opened.kind is NoticeKind.OPENED
    assert "请保持冷静" in text and "轿厢内有通风装置和紧急呼叫按钮，我们会时刻关注您的情况" in text


def test_a_rating_link_when_the_site_has_one(site: Site) -> None:
    settings = NotifySettings(rating_url="https://fw.example.com/rate?t={ticket}")
    follow_up = notice(site, kind=NoticeKind.FOLLOW_UP, staff=())
    (owners,) = Planner(site, settings, Templates()).plan(follow_up)
    assert "请点击为本次服务评分：https://fw.example.com/rate?t=T-000001" in owners.body


def test_sms_segments() -> None:
    assert [sms_segments("字" * n) for n in (1, 70, 71, 134, 135)] == [1, 1, 2, 2, 3]


def test_the_checker_passes_the_shipped_templates_and_names_what_breaks(site: Site, tmp_path: Path) -> None:
    report = check_templates(site, Templates())
    assert report.problems == [] and report.warnings == ()
    assert len(report.rendered) > 1000  # every finding kind × moment × language
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "owner_arrived.txt").write_text(
        "${asset}：Engineer on site\n\n" + "这里是${service}。" * 200, encoding="utf-8"
    )
    broken = check_templates(site, Templates(tmp_path))
    text = "\n".join(broken.problems)
    assert "zh owners check_in elevator.entrapment:" not in text  # its own variant file still wins
    assert "zh owners check_in elevator.entrapment_at_landing:" not in text  # it speaks as an entrapment
    assert "zh owners check_in pump.tripped: English in a Chinese message: Engineer" in text
    assert "longer than a WeCom robot accepts (2048)" in text
    assert "en owners" not in text
    no_phone = check_templates(dataclasses.replace(site, service_phone=""), Templates())
    assert no_phone.warnings and "service_phone" in no_phone.warnings[0]


def test_the_checker_warns_of_an_engineer_alert_with_a_fixed_instruction(site: Site, tmp_path: Path) -> None:
    """A site's own engineer_alert.txt written before ``${next_step}`` would tell an engineer to check in when
    someone is already on site: the checker says so (a warning; the words are the site's)."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "engineer_alert.txt").write_text(
        "[${level}] ${ticket} ${asset}\n\n${summary}; ${dues}\nTicket ${ticket}: acknowledge, then check in.",
        encoding="utf-8",
    )
    report = check_templates(site, Templates(tmp_path))
    assert report.problems == []
    (warning,) = report.warnings
    assert warning.startswith("en/engineer_alert.txt does not use ${next_step}")


def test_the_conversations_page_is_what_the_script_renders() -> None:
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = root / "scripts" / "render_conversations.py"
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout
    page = (root / "docs" / "notifications.md").read_text(encoding="utf-8")
    section = page.split(BEGIN)[1].split(END)[0]
    assert section.strip() == out.strip(), "run scripts/render_conversations.py --write"
    assert "| 10:00 | alert opened | **1号楼1单元电梯有人被困，正在紧急救援**" in section


def test_facwatch_check_fails_on_a_template_with_english_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "facwatch.toml"
    config.write_text(
        f"site = 'demo'\ndata_dir = '{tmp_path}'\n[notify]\ntemplate_dir = '{tmp_path / 't'}'\n"
    )
    (tmp_path / "t" / "zh").mkdir(parents=True)
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s)" in out and "zh owners opened: 190 chars, 3 SMS" in out
    (tmp_path / "t" / "zh" / "owner_follow_up.txt").write_text(
        "回访\n\n${asset} OK? ${phone}\n", encoding="utf-8"
    )
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "problem: zh owners follow_up elevator.entrapment: English in a Chinese message: OK" in out


def test_every_finding_kind_of_the_shipped_profiles_has_a_name_in_both_languages() -> None:
    """A kind without a name reaches owners as a generic "设备告警": every shipped rule must be named."""
    import tomllib
    from importlib import resources

    from alerts.notify.messages import FINDING_NAMES

    kinds: set[str] = set()
    for profile in resources.files("alerts.detection").joinpath("profiles").iterdir():
        if profile.name.endswith(".toml"):
            data = tomllib.loads(profile.read_text(encoding="utf-8"))
            kinds.update(watch["finding"] for watch in data.get("watch", []) if "finding" in watch)
    assert kinds, "no findings read from the shipped profiles"
    assert sorted(kinds - set(FINDING_NAMES)) == []
