"""Channels in people's words: one registry of every channel's label (Chinese, English), unit, and whether it
is internal.

The rule, in one place: a channel reaches people (messages, the API's labels, the board) only when it is not
internal. Internal channels are facwatch's own working figures — the site's local hour the rules gate on
(``local_hour``), a prediction's arithmetic, the data path's counters — and discrete events' raw codes;
they stay in the finding's detail for the engine and the API's raw fields, never in a sentence.
A channel the registry does not know (a site's own device channel) is shown under its raw name, with the
unit its name ends in when that is a known unit (``_a`` → A).

Shown as ``电机电流 12.3 A`` / ``motor current 12.3 A`` (``reading_text``); booleans as 是/否, yes/no.
Pure values: gateway, ingest, alerts and api may all import this module (tests/test_layout.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LANGS = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    zh: str
    en: str
    unit: str = ""
    boolean: bool = False
    internal: bool = False

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


_PEOPLE: tuple[Channel, ...] = (
    # elevator
    Channel("floor", "楼层", "floor"),
    Channel("in_door_zone", "门区", "in the door zone", boolean=True),
    Channel("door_open", "开门", "door open", boolean=True),
    Channel("speed_mps", "速度", "speed", "m/s"),
    Channel("motor_current_a", "电机电流", "motor current", "A"),
    Channel("vibration_rms_g", "振动", "vibration", "g"),
    Channel("load_kg", "载重", "load", "kg"),
    Channel("alarm_button", "报警按钮", "alarm button", boolean=True),
    Channel("running", "运行", "running", boolean=True),
    Channel("inspection_mode", "检修状态", "inspection mode", boolean=True),
    Channel("limit_switch", "极限开关", "limit switch", boolean=True),
    # pump
    Channel("discharge_pressure_bar", "出水压力", "discharge pressure", "bar"),
    Channel("suction_pressure_bar", "进水压力", "suction pressure", "bar"),
    Channel("flow_m3h", "流量", "flow", "m³/h"),
    Channel("vibration_rms_mms", "振动", "vibration", "mm/s"),
    Channel("bearing_temp_c", "轴承温度", "bearing temperature", "°C"),
    # power
    Channel("voltage_l1_v", "第1相电压", "L1 voltage", "V"),
    Channel("voltage_l2_v", "第2相电压", "L2 voltage", "V"),
    Channel("voltage_l3_v", "第3相电压", "L3 voltage", "V"),
    Channel("current_l1_a", "第1相电流", "L1 current", "A"),
    Channel("current_l2_a", "第2相电流", "L2 current", "A"),
    Channel("current_l3_a", "第3相电流", "L3 current", "A"),
    Channel("frequency_hz", "频率", "frequency", "Hz"),
    Channel("power_factor", "功率因数", "power factor"),
    Channel("transformer_temp_c", "变压器温度", "transformer temperature", "°C"),
)

_INTERNAL: tuple[Channel, ...] = (
    Channel("local_hour", "当地时刻", "local hour", "h", internal=True),
    # a prediction's arithmetic (alerts/detection/rules.py)
    Channel("predicted_at_ms", "预计时间", "predicted at", internal=True),
    Channel("limit", "限值", "limit", internal=True),
    Channel("slope_per_day", "日变化率", "slope per day", internal=True),
    Channel("level", "预测值", "predicted level", internal=True),
    Channel("limit_in_h", "距限值小时数", "hours to the limit", "h", internal=True),
    Channel("limit_in_h_low", "距限值小时数下限", "hours to the limit, low", "h", internal=True),
    Channel("limit_in_h_high", "距限值小时数上限", "hours to the limit, high", "h", internal=True),
    # the data path and the engine's own counters
    Channel("last_seen_ms", "最后收到", "last seen", internal=True),
    Channel("down_s", "中断时长", "down for", "s", internal=True),
    Channel("count", "次数", "count", internal=True),
    Channel("spool_readings", "缓存读数", "spooled readings", internal=True),
    Channel("spool_fraction", "缓存占用", "spool used", internal=True),
    Channel("readings_per_s", "每秒读数", "readings per second", internal=True),
    Channel("queue_depth", "队列长度", "queue depth", internal=True),
    Channel("dead_letters", "无效消息", "dead letters", internal=True),
)

CHANNELS: Mapping[str, Channel] = {c.name: c for c in (*_PEOPLE, *_INTERNAL)}
"""Every channel facwatch knows, by name."""

INTERNAL_PREFIXES = ("event.", "_")
"""Discrete events' raw codes (``event.fault``) and anything a part marks private with a leading ``_``."""

_SUFFIX_UNITS = (
    ("_m3h", "m³/h"), ("_mps", "m/s"), ("_mms", "mm/s"), ("_bar", "bar"), ("_kpa", "kPa"), ("_kg", "kg"),
    ("_hz", "Hz"), ("_kw", "kW"), ("_kwh", "kWh"), ("_a", "A"), ("_v", "V"), ("_c", "°C"), ("_g", "g"),
    ("_s", "s"), ("_pct", "%"),
)  # fmt: skip
_YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}


UNIT_WORDS = frozenset(
    word for unit in (*(c.unit for c in CHANNELS.values()), *(u for _, u in _SUFFIX_UNITS))
    for word in re.findall(r"[A-Za-z]+", unit)
)  # fmt: skip
"""The Latin letters units are written in (``A``, ``m``, ``s``, ``Hz`` …): not English in a Chinese sentence."""


def channel(name: str) -> Channel:
    """The registry's entry, or one made from the raw name (its unit from the name's ending)."""
    known = CHANNELS.get(name)
    if known is not None:
        return known
    unit = next((u for suffix, u in _SUFFIX_UNITS if name.endswith(suffix)), "")
    return Channel(name, name, name, unit, internal=name.startswith(INTERNAL_PREFIXES))


def is_internal(name: str) -> bool:
    """Whether ``name`` is one of facwatch's own figures, never shown to people."""
    return channel(name).internal


def label(name: str, lang: str) -> str:
    return channel(name).label(lang)


def value_text(name: str, value: float | bool, lang: str) -> str:
    """``12.3 A``, ``是``/``yes`` for a boolean channel, ``3`` for a unitless one."""
    entry = channel(name)
    if entry.boolean or isinstance(value, bool):
        yes, no = _YES_NO["en" if lang == "en" else "zh"]
        return yes if value else no
    number = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{number} {entry.unit}" if entry.unit else number


def reading_text(name: str, value: float | bool, lang: str) -> str:
    """``电机电流 12.3 A`` / ``motor current 12.3 A``."""
    return f"{label(name, lang)} {value_text(name, value, lang)}"


def readings_text(values: Iterable[tuple[str, float | bool]], lang: str, most: int = 8) -> str:
    """The channels people may see, in words, joined (``—`` when none is left)."""
    shown = [reading_text(n, v, lang) for n, v in values if not is_internal(n)][:most]
    return ("，" if lang == "zh" else ", ").join(shown) or "—"


__all__ = [
    "CHANNELS",
    "UNIT_WORDS",
    "Channel",
    "channel",
    "is_internal",
    "label",
    "reading_text",
    "readings_text",
    "value_text",
]
