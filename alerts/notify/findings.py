"""Every finding kind in words, Chinese and English: its name and a one-line summary with its figures.

The detectors, rules, the data path and the owners' chat write a ``Finding.summary`` for logs and the API's
raw field, in English or in both languages; people never read it. What people read is made here from the
finding's kind and figures, in the recipient's language only: ``电梯困人（速度 0 m/s）`` /
``someone trapped in the elevator (speed 0 m/s)``. Channels are shown with their labels and units and
internal figures never (``alerts.notify.channel_words``).

A kind the detectors may raise and that is missing here is found by tests/alerts/test_words.py, which reads
every ``Finding(...)`` in the code. A recurrence (``<kind>.recurrence``, alerts/engine/policy.py) speaks
with its base kind's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.notify.channel_words import is_internal, label, reading_text, value_text

FINDING_NAMES: Mapping[str, tuple[str, str]] = {
    "elevator.entrapment": ("电梯困人", "someone trapped in the elevator"),
    "elevator.possible_entrapment": ("电梯可能困人", "someone possibly trapped in the elevator"),
    "elevator.out_of_service": ("电梯停运", "elevator out of service"),
    "elevator.door_fault": ("电梯门故障", "elevator door fault"),
    "elevator.overspeed": ("电梯超速", "elevator overspeed"),
    "elevator.abnormal_vibration": ("电梯异常振动", "abnormal elevator vibration"),
    "elevator.wear_predicted": ("电梯部件磨损预警", "elevator wear predicted"),
    "elevator.entrapment_at_landing": ("电梯平层困人", "someone trapped in the elevator at a landing"),
    "elevator.moving_doors_open": ("电梯开门走车", "elevator moving with its doors open"),
    "elevator.door_open_running": ("电梯运行中开门", "elevator door opened while running"),
    "elevator.stopped_outside_door_zone": ("电梯门区外停梯", "elevator stopped outside the door zone"),
    "elevator.overtravel_top": ("电梯冲顶", "elevator overtravel at the top"),
    "elevator.overtravel_bottom": ("电梯蹲底", "elevator overtravel at the bottom"),
    "pump.pipe_burst": ("爆管（压力骤降）", "pipe burst (pressure collapse)"),
    "pump.tripped": ("水泵跳闸", "pump tripped"),
    "pump.dry_run": ("水泵干转", "pump running dry"),
    "pump.cavitation": ("水泵气蚀", "pump cavitation"),
    "pump.overheat": ("水泵过热", "pump overheating"),
    "pump.bearing_fault": ("水泵轴承故障", "pump bearing fault"),
    "pump.wear_predicted": ("水泵磨损预警", "pump wear predicted"),
    "power.outage": ("停电", "power cut"),
    "power.phase_loss": ("缺相", "phase loss"),
    "power.voltage_sag": ("电压偏低", "voltage sag"),
    "power.voltage_swell": ("电压偏高", "voltage swell"),
    "power.overload": ("过载", "overload"),
    "power.transformer_overheat": ("变压器过热", "transformer overheating"),
    "sensor.stuck": ("传感器读数卡住", "sensor stuck"),
    "sensor.dropout": ("传感器数据中断", "sensor dropout"),
    "sensor.drift": ("传感器漂移", "sensor drift"),
    "device.offline": ("设备离线", "device offline"),
    "datapath.spool_nearly_full": ("数据缓存将满", "telemetry spool nearly full"),
    "datapath.store_unreachable": ("数据存储不可达", "telemetry store unreachable"),
    "datapath.broker_lost": ("与消息服务器断开", "MQTT broker lost"),
    "notify.undelivered": ("红色通知未送达", "RED notification not delivered"),
    "owners.complaints": ("业主群集中投诉", "complaints in an owners' group"),
    "owners.mood": ("业主群负面情绪持续", "lasting negative mood in an owners' group"),
    "owners.crisis": ("多个业主群同时投诉", "complaints in several owners' groups at once"),
    "owners.sensors_silent": ("业主反映故障，传感器未报警", "owners report a fault the sensors do not see"),
    "maintenance.overdue": ("维保逾期", "maintenance overdue"),
    "maintenance.certificate_expiring": ("检验合格证即将到期", "inspection certificate expiring"),
}
"""Every finding kind facwatch raises, by name: Chinese messages carry no English."""

RECURRENCE = ".recurrence"
"""alerts.engine.policy.RECURRENCE_SUFFIX (notify may not import it from the engine's policy: a value)."""

_SAY: Mapping[str, tuple[str, str]] = {
    "elevator.possible_entrapment": ("{name}：停电时轿厢正在运行（{reading}）",
                                     "{name}: the car was moving ({reading}) when the power failed"),
    "sensor.dropout": ("{name}：{channel}无数据", "{name}: no {channel} data"),
    "datapath.broker_lost": ("{name}：{seconds} 秒未收到遥测数据", "{name}: no telemetry for {seconds} s"),
    "owners.complaints": ("{name}：1 小时内 {count} 个投诉关键词，请管家处理",
                          "{name}: {count} complaint keywords within the hour; the steward is called"),
    "owners.mood": ("{name}已达 1 小时，请项目经理介入", "{name} for an hour; the project manager is called"),
    "owners.crisis": ("{name}（{count} 个群）：启动应急预案",
                      "{name} ({count} groups): start the emergency plan"),
    "notify.undelivered": ("{name}：所有渠道均失败", "{name}: every channel failed"),
}  # fmt: skip
"""Kinds whose summary says more than the name and the reading, with their figures."""
_PREDICTED = (
    "{name}：{channel}预计约 {hours} 小时后达到限值 {limit}",
    "{name}: {channel} predicted to reach its limit {limit} in about {hours} h",
)
_RECURRING = (
    "{name}反复发生：{days} 天内 {count} 次，请查明原因并整改",
    "recurring {name}: {count} times in {days} days; find and fix the cause",
)
_RECURRING_NAME = ("{name}反复发生", "recurring {name}")
_UNKNOWN = ("设备告警", "asset alert")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def known(kind: str) -> bool:
    """Whether ``kind`` (or the kind a recurrence is of) has words of its own."""
    return kind.removesuffix(RECURRENCE) in FINDING_NAMES


def finding_name(kind: str, lang: str, summary: str = "") -> str:
    """The finding's name in ``lang``; an unknown kind (an owner's report): the summary when it is in that
    language, else a generic name."""
    base = kind.removesuffix(RECURRENCE)
    names = FINDING_NAMES.get(base)
    if names is None:
        if summary and (lang == "en") == summary.isascii():
            return summary
        return _pick(_UNKNOWN, lang)
    if base != kind:
        return _pick(_RECURRING_NAME, lang).format(name=_pick(names, lang))
    return _pick(names, lang)


def _g(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def finding_summary(
    kind: str, lang: str, detail: Mapping[str, Any], summary: str = "", window_days: float = 30.0
) -> str:
    """One line for a person: the name, and what the figures say, in ``lang`` only.

    ``detail``: the notice's facts (``channel``, ``value``, ``facts``: the finding's numbers, ``readings``)."""
    base = kind.removesuffix(RECURRENCE)
    name = finding_name(kind, lang, summary)
    if base not in FINDING_NAMES:
        return name
    facts: Mapping[str, Any] = detail.get("facts") or detail.get("readings") or {}
    channel = detail.get("channel")
    value = detail.get("value")
    en = lang == "en"
    if base != kind:
        count = facts.get("count")
        return _pick(_RECURRING, lang).format(
            name=_pick(FINDING_NAMES[base], lang), days=_g(window_days), count=_g(count or "?")
        )
    if kind.endswith(".wear_predicted") and isinstance(channel, str) and "limit_in_h" in facts:
        return _pick(_PREDICTED, lang).format(
            name=name,
            channel=label(channel, lang),
            hours=f"{float(facts['limit_in_h']):.0f}",
            limit=value_text(channel, float(facts.get("limit", 0.0)), lang),
        )
    words = _SAY.get(kind)
    shown = channel if isinstance(channel, str) and not is_internal(channel) else ""
    reading = reading_text(shown, value, lang) if shown and isinstance(value, int | float) else ""
    if words is not None:
        number = value if isinstance(value, int | float) else facts.get("down_s", "?")
        return _pick(words, lang).format(
            name=name,
            reading=reading or "—",
            channel=label(shown, lang) if shown else "",
            seconds=f"{float(number):.0f}" if isinstance(number, int | float) else "?",
            count=f"{float(value):.0f}" if isinstance(value, int | float) else "?",
        )
    if reading:
        return f"{name} ({reading})" if en else f"{name}（{reading}）"
    return name


__all__ = ["FINDING_NAMES", "finding_name", "finding_summary", "known"]
