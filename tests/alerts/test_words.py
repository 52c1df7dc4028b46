"""Words people read (issue 18, part 5): every finding kind in Chinese and English, each message in its
recipient's language only, internal channels never shown, channels with labels and units.

The finding kinds are read from the code (every ``Finding(...)`` of alerts, gateway and ingest, and the
shipped profiles), not from a hand list: a new kind without words fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from alerts.engine.notices import Notice, NoticeKind
from alerts.engine.policy import PREDICTED_SUFFIX, RECURRENCE_SUFFIX, recurrence_kind
from alerts.notify.audiences import Planner
from alerts.notify.channel_words import CHANNELS, is_internal, reading_text
from alerts.notify.check import problems_of
from alerts.notify.conversations import EVERY_MOMENT, Script, conversation
from alerts.notify.findings import finding_summary, known
from alerts.notify.messages import Templates
from alerts.notify.writer import digest
from facwatch.config import NotifySettings, load_site
from facwatch.model import STANDARD_CHANNELS, Level, Person, Site

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
PASSED_THROUGH = {
    ("alerts/engine/intake_queue.py", "kind"): "a queued finding read back with the kind it was written with",
    ("alerts/engine/pending.py", "row.kind"): "a pending finding read back with its own kind",
    ("alerts/engine/resolving.py", "row.kind"): "a suppressed alert judged again, with its own kind",
    ("alerts/engine/alerting.py", "kind"): "a recurrence: policy.recurrence_kind(<any base kind>)",
    (
        "alerts/engine/maintenance_clock.py",
        "kind",
    ): "one of PLAN_KINDS (maintenance.overdue, certificate_expiring)",
}
"""``Finding(...)`` calls whose kind is another finding's: they raise no kind of their own."""


# --- every kind, from the code ------------------------------------------------------------------------------


def _profile_kinds() -> set[str]:
    kinds: set[str] = set()
    for profile in resources.files("alerts.detection").joinpath("profiles").iterdir():
        if profile.name.endswith(".toml"):
            data = tomllib.loads(profile.read_text(encoding="utf-8"))
            kinds.update(w["finding"] for w in data.get("watch", []) if "finding" in w)
    return kinds


def _finding_calls() -> Iterator[tuple[str, ast.Module, ast.expr]]:
    for package in ("alerts", "gateway", "ingest"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name != "Finding":
                    continue
                kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
                if kind is None and len(node.args) > 2:
                    kind = node.args[2]
                assert kind is not None, f"{path}:{node.lineno}: a Finding without a kind"
                yield path.relative_to(ROOT).as_posix(), tree, kind


def _imported_module(tree: ast.Module, alias: str) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                if (name.asname or name.name) == alias:
                    return f"{node.module}.{name.name}"
    return None


def emitted_kinds() -> set[str]:
    """Every finding kind the detectors, rules, data path, chat ladder, engine and notifier can raise."""
    kinds: set[str] = set()
    unresolved = []
    for path, tree, expr in _finding_calls():
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        text = ast.unparse(expr)
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            kinds.add(expr.value)
        elif isinstance(expr, ast.Name) and isinstance(getattr(module, expr.id, None), str):
            kinds.add(getattr(module, expr.id))
        elif text == "watch.finding":  # the rules: every watch of the shipped profiles
            kinds |= _profile_kinds()
        elif isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            owner = _imported_module(tree, expr.value.id)
            value = getattr(importlib.import_module(owner), expr.attr, None) if owner else None
            if isinstance(value, str):
                kinds.add(value)
            elif (path, text) not in PASSED_THROUGH:
                unresolved.append(f"{path}: kind={text}")
        elif (path, text) not in PASSED_THROUGH:
            unresolved.append(f"{path}: kind={text}")
    assert unresolved == [], "a Finding whose kind this test cannot read: add it to PASSED_THROUGH or name it"
    bases = {k for k in kinds if not k.endswith((RECURRENCE_SUFFIX, PREDICTED_SUFFIX))}
    return kinds | {recurrence_kind(k) for k in bases}


def test_the_kinds_are_read_from_the_code() -> None:
    kinds = emitted_kinds()
    # one of each source: rules, profiles, data path, presence, chat ladder, engine, notifier, recurrence
    for kind in (
        "sensor.dropout", "elevator.entrapment", "datapath.store_unreachable", "device.offline",
        "owners.crisis", "elevator.possible_entrapment", "notify.undelivered", "pump.tripped.recurrence",
    ):  # fmt: skip
        assert kind in kinds, kind
    assert sorted(k for k in kinds if not known(k)) == []


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site("demo", variables={"data_dir": "/x"})


def _asset_for(site: Site, kind: str) -> str:
    family = kind.split(".")[0]
    return next((a.id for a in site.assets if a.kind.value == family), "b1-elev-1")


FIGURES = {
    "readings": {"motor_current_a": 12.3, "speed_mps": 0.0, "local_hour": 16.0014, "door_open": 0.0},
    "facts": {
        "motor_current_a": 12.3, "local_hour": 16.0014, "count": 3.0, "limit": 30.0, "limit_in_h": 40.0,
        "predicted_at_ms": 1.7e12, "down_s": 95.0,
    },
    "channel": "motor_current_a",
    "value": 12.3,
}  # fmt: skip
"""What a finding's notice carries (alerts/engine/tickets.py), with an internal channel among the readings."""


def _opened(site: Site, kind: str, person: Person) -> Notice:
    return Notice(
        kind=NoticeKind.OPENED,
        key=f"T-000001:{kind}",
        site=site.id,
        ticket_pk=1,
        ticket="T-000001",
        asset=site.asset(_asset_for(site, kind)),
        level=Level.RED,
        summary="Passenger trapped: English words from a detector",
        at=NOW,
        staff=(person,),
        detail={**FIGURES, "finding": kind, "ack_due": NOW + timedelta(seconds=60), "opened_at": NOW},
    )


def assert_in(lang: str, text: str, site: Site, where: object) -> None:
    """``text`` is in ``lang`` only: no English word in Chinese (ids, units, the site's own names excepted),
    no Chinese in English; and no internal figure."""
    if lang == "zh":
        english = [p for p in problems_of(text, text.split("\n")[0] or "x", "zh", site) if "English" in p]
        assert english == [], (where, text)
    else:
        assert not CJK.search(text), (where, text)
    assert "local_hour" not in text and "16.0014" not in text and "predicted_at_ms" not in text, (where, text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_finding_kind_has_a_summary_in_both_languages(site: Site, lang: str) -> None:
    planner = Planner(site, NotifySettings(), Templates())
    engineer = dataclasses.replace(site.people[0], lang=lang)
    for kind in sorted(emitted_kinds()):
        summary = finding_summary(kind, lang, FIGURES)
        assert summary and summary not in ("设备告警", "asset alert"), kind
        assert_in(lang, summary, site, kind)
        (item,) = [i for i in planner.plan(_opened(site, kind, engineer)) if i.audience == "engineer"]
        assert_in(lang, f"{item.title}\n{item.body}", site, kind)
        assert summary in item.body, (kind, item.body)


@pytest.mark.parametrize(
    ("kind", "lang", "text"),
    [
        ("elevator.entrapment", "zh", "电梯困人（电机电流 12.3 A）"),
        ("elevator.entrapment", "en", "someone trapped in the elevator (motor current 12.3 A)"),
        ("pump.tripped.recurrence", "zh", "水泵跳闸反复发生：30 天内 3 次，请查明原因并整改"),
        ("pump.wear_predicted", "en", "pump wear predicted: motor current predicted to reach its limit 30 A in about 40 h"),
        ("datapath.broker_lost", "zh", "与消息服务器断开：12 秒未收到遥测数据"),
        ("owners.complaints", "en", "complaints in an owners' group: 12 complaint keywords within the hour; the steward is called"),
        ("sensor.dropout", "zh", "传感器数据中断：电机电流无数据"),
    ],
)  # fmt: skip
def test_summaries_say_the_figures(kind: str, lang: str, text: str) -> None:
    assert finding_summary(kind, lang, FIGURES) == text


# --- channels: labels, units, internal ----------------------------------------------------------------------


def test_every_standard_channel_has_a_label_and_internal_ones_are_never_shown() -> None:
    standard = {name for channels in STANDARD_CHANNELS.values() for name in channels}
    assert sorted(standard - set(CHANNELS)) == []
    assert reading_text("motor_current_a", 12.3, "zh") == "电机电流 12.3 A"
    assert reading_text("motor_current_a", 12.3, "en") == "motor current 12.3 A"
    assert reading_text("door_open", 1.0, "zh") == "开门 是"
    assert reading_text("my_tank_level_m", 2.5, "en") == "my_tank_level_m 2.5"  # a site's own: raw name
    assert reading_text("oil_temp_c", 61.0, "en") == "oil_temp_c 61 °C"  # unit from the name's ending
    for name in ("local_hour", "predicted_at_ms", "limit_in_h", "down_s", "event.fault", "count"):
        assert is_internal(name), name
    assert not any(is_internal(n) for n in standard)


# --- every message kind, in the recipient's language only ---------------------------------------------------

FAMILIES = ("elevator.entrapment", "pump.pipe_burst", "power.outage", "owners.complaints", "sensor.dropout")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_message_the_outbox_sends_is_in_its_recipients_language_only(site: Site, lang: str) -> None:
    people = tuple(dataclasses.replace(p, lang=lang) for p in site.people)
    local = dataclasses.replace(site, people=people)
    templates = Templates()
    seen: set[str] = set()
    for kind in FAMILIES:
        script = Script(kind, _asset_for(site, kind), kind, Level.RED, ())
        for notice, items in conversation(local, templates, script, lang, steps=EVERY_MOMENT, once=False):
            for item in items:
                moment = notice.action or notice.kind.value
                seen.add(f"{item.audience} {moment}")
                text = f"{item.title}\n{item.body}\n{item.line}"
                for own in (str(notice.detail.get("plan_b") or ""), *notice.note.split("; ")):
                    text = text.replace(own, "") if own else text  # a person's own words stay theirs
                assert_in(lang, text, site, (kind, item.audience, moment))
    # owners: opened, on the way, on site, progress, plan B, late, all-clear, follow-up; staff: each step
    assert {
        "owners opened", "owners acknowledge", "owners check_in", "owners progress", "owners plan_b",
        "owners escalated", "owners resolve", "owners follow_up", "engineer opened", "engineer plan_b",
        "engineer escalated",
    } <= seen  # fmt: skip
    members = [
        {"level": "red", "line": "一号", "created_at": NOW},
        {"level": "blue", "line": "二号", "created_at": NOW},
    ]
    for staff in (True, False):  # the digests of what waited together
        summed = digest(templates, staff=staff, lang=lang, site_name=site.name, key="k", members=members * 4)
        assert_in(
            lang, f"{summed.title}\n{summed.body}".replace("一号", "").replace("二号", ""), site, "digest"
        )


# --- the API: a label beside the raw name -------------------------------------------------------------------


def test_the_api_gives_a_label_beside_each_raw_name(site: Site) -> None:
    from api.schemas import AlertOut, alert_dict
    from api.schemas_assets import AssetOut
    from facwatch.model import Alert, AlertState, Point

    alert = Alert("A-000001", site.id, "b1-elev-1", "b1", "pump.tripped.recurrence", Level.YELLOW,
                  AlertState.FIRING, "Recurring fault: pump.tripped 3 times in 30 days", NOW, NOW)  # fmt: skip
    out = AlertOut.from_alert(alert)
    assert out.kind == "pump.tripped.recurrence"
    assert out.label == {"zh": "水泵跳闸反复发生", "en": "recurring pump tripped"}
    assert alert_dict(alert)["label"] == out.label  # the list's fast path says the same
    asset = site.asset("b1-elev-1")
    assert asset is not None
    latest = {
        c: Point(1_700_000_000_000, c, v) for c, v in (("motor_current_a", 12.3), ("local_hour", 16.0014))
    }
    shown = AssetOut.from_asset(site.id, asset, "1号楼", latest).latest
    assert (shown["motor_current_a"].label, shown["motor_current_a"].unit) == (
        {"zh": "电机电流", "en": "motor current"},
        "A",
    )
    assert shown["local_hour"].internal and not shown["motor_current_a"].internal
    door = AssetOut.from_asset(site.id, asset, "1号楼", {"door_open": Point(1, "door_open", 1.0)}).latest
    assert door["door_open"].boolean and not shown["motor_current_a"].boolean
