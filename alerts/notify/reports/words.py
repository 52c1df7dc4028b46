"""The reports' words in Chinese and English, and how their numbers are written (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.notify.messages import ACTION_NAMES, LEVEL_NAMES, localized

KINDS = ("monthly", "repair", "quarterly")

LABELS: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "monthly": "隐形服务清单", "repair": "专项检修报告", "quarterly": "季度维修公示",
        "period": "期间", "building": "楼栋", "compound": "小区",
        "visits": "维保与检验", "kind": "类型", "by": "执行单位", "note": "内容", "maintenance": "维保", "inspection": "检验", "no_visits": "本月无维保记录",
        "machines": "设备运行", "asset": "设备", "hours_run": "运行小时", "trips": "运行次数", "incidents": "故障",
        "fault_free_days": "无故障天数", "days": "天", "response": "响应", "on_site": "到场", "fix": "修复",
        "median_response": "响应时间中位数", "median_fix": "修复时间中位数", "no_incidents": "本月无故障",
        "ticket": "工单", "opened": "发生", "level": "级别", "what_happened": "反复出现的问题",
        "occurrences": "近30天发生次数", "what_was_done": "检查与处理经过", "readings": "修复前后读数",
        "before": "修复前", "after": "修复后", "mean": "平均", "fixed_at": "修复时间",
        "category": "类别", "repairs": "维修", "cost": "费用", "previous": "上季度", "this": "本季度",
        "sla": "服务时限", "target": "承诺", "p50": "中位数", "p90": "90%用时", "breaches": "超时",
        "tickets": "工单数", "total": "合计", "change": "变化", "nothing": "无", "none": "—",
        "chart_hours": "各设备运行小时", "chart_categories": "各类别维修次数",
        "chart_costs": "各类别维修费用", "chart_sla": "响应与修复用时（中位数，分钟）",
        "minutes": "分钟", "hours": "小时", "link": "查看完整报告", "service": "物业服务中心",
        "elevator": "电梯", "pump": "水泵", "power": "供配电", "water": "给排水", "other": "其他",
    },
    "en": {
        "monthly": "Invisible-service list", "repair": "Targeted repair report", "quarterly": "Quarterly publication",
        "period": "Period", "building": "Building", "compound": "Compound",
        "visits": "Maintenance and inspections", "kind": "Kind", "by": "By", "note": "What was done",
        "maintenance": "maintenance", "inspection": "inspection",
        "no_visits": "No maintenance recorded this month",
        "machines": "How the machines ran", "asset": "Machine", "hours_run": "Hours run", "trips": "Trips", "incidents": "Faults",
        "fault_free_days": "Fault-free days", "days": "days", "response": "Response", "on_site": "On site",
        "fix": "Fixed", "median_response": "Median response", "median_fix": "Median time to fix",
        "no_incidents": "No faults this month",
        "ticket": "Ticket", "opened": "Opened", "level": "Level", "what_happened": "What kept happening",
        "occurrences": "Occurrences in 30 days", "what_was_done": "What was found and done",
        "readings": "Readings before and after", "before": "before", "after": "after", "mean": "mean",
        "fixed_at": "Fixed at",
        "category": "Category", "repairs": "Repairs", "cost": "Cost", "previous": "Previous quarter",
        "this": "This quarter", "sla": "Service times", "target": "Promise", "p50": "Median", "p90": "90th pct",
        "breaches": "Late", "tickets": "Tickets", "total": "Total", "change": "Change", "nothing": "none",
        "none": "—", "chart_hours": "Hours run per machine", "chart_categories": "Repairs per category",
        "chart_costs": "Repair costs per category", "chart_sla": "Response and fix times (median, minutes)",
        "minutes": "min", "hours": "h", "link": "The whole report", "service": "Property service centre",
        "elevator": "Elevators", "pump": "Pumps", "power": "Power", "water": "Water", "other": "Other",
    },
}  # fmt: skip


def word(lang: str, key: str) -> str:
    table = LABELS.get(lang, LABELS["zh"])
    return table.get(key, key)


def level_name(lang: str, level: str) -> str:
    return LEVEL_NAMES.get(lang, LEVEL_NAMES["zh"]).get(level, level)


def action_name(lang: str, action: str) -> str:
    return ACTION_NAMES.get(lang, ACTION_NAMES["zh"]).get(action, action)


def name(text: str, lang: str) -> str:
    """A bilingual name (``1号楼 Building 1``) in one language."""
    return localized(text, lang)


def duration(seconds: float | None, lang: str) -> str:
    """``45 s`` / ``12 min`` / ``3.5 h`` (or ``—`` when nothing was measured)."""
    if seconds is None:
        return word(lang, "none")
    if seconds < 90:
        return f"{seconds:.0f} 秒" if lang == "zh" else f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.0f} {word(lang, 'minutes')}"
    return f"{seconds / 3600:.1f} {word(lang, 'hours')}"


def money(amount: float, currency: str) -> str:
    return f"{currency}{amount:,.2f}"


def when(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def change(now: float, then: float) -> str:
    """``+25%`` / ``-10%`` / ``+3`` (from zero) / ``0``."""
    if then == 0:
        return "0" if now == 0 else f"+{now:g}"
    return f"{(now - then) / then * 100:+.0f}%"
