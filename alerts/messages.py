"""What notifications say (pure). Engineers get the facts; owners get plain words in Chinese and English.

An engineer's message (ticket number, deadlines, readings) never goes to owners, and no message
carries the asset's check-in code: that code proves presence at the asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from facwatch.model import Asset, AssetKind, Level


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


def split_name(name: str) -> tuple[str, str]:
    """``"1号楼1单元电梯 Building 1 unit 1 elevator"`` → (Chinese part, English part)."""
    head, _, tail = name.partition(" ")
    if tail and not head.isascii():
        return head, tail
    return name, name


_OWNER_TEXT = {
    AssetKind.ELEVATOR: ("{zh}暂停服务，工程师已在路上", "{en} is out of service; an engineer is on the way"),
    AssetKind.PUMP: (
        "{zh}故障，供水可能受影响，工程师已在路上",
        "{en} has failed; water supply may be affected; an engineer is on the way",
    ),
    AssetKind.POWER: ("{zh}停电，工程师已在路上", "{en} has lost power; an engineer is on the way"),
}
_OWNER_ALL_CLEAR = {
    AssetKind.ELEVATOR: ("{zh}已恢复服务", "{en} is back in service"),
    AssetKind.PUMP: ("{zh}已恢复正常", "{en} is working normally again"),
    AssetKind.POWER: ("{zh}已恢复供电", "{en}: power is back"),
}


def _local(when: datetime | None, tz: str) -> str:
    if when is None:
        return "—"
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%H:%M:%S %Z")


def owner_notice(asset: Asset) -> Message:
    zh, en = split_name(asset.name)
    text_zh, text_en = _OWNER_TEXT[asset.kind]
    body = f"{text_zh.format(zh=zh)} / {text_en.format(en=en)}"
    return Message(title=f"{zh}暂停服务 / {en}: service interrupted", body=body)


def owner_all_clear(asset: Asset) -> Message:
    zh, en = split_name(asset.name)
    text_zh, text_en = _OWNER_ALL_CLEAR[asset.kind]
    return Message(
        title=f"{zh}已恢复 / {en}: restored", body=f"{text_zh.format(zh=zh)} / {text_en.format(en=en)}"
    )


def engineer_alert(
    *,
    ticket: str,
    asset: Asset,
    level: Level,
    summary: str,
    opened_at: datetime,
    on_site_due: datetime | None,
    ack_due: datetime | None,
    timezone: str,
) -> Message:
    title = f"[{level.value.upper()}] {ticket} {asset.name}"
    body = (
        f"{summary}\n"
        f"Asset: {asset.name} ({asset.id}), building {asset.building}\n"
        f"Since {_local(opened_at, timezone)}; acknowledge by {_local(ack_due, timezone)}, "
        f"on site by {_local(on_site_due, timezone)}.\n"
        f"Ticket {ticket}: acknowledge, then check in at the asset with the posted code."
    )
    return Message(title=title, body=body)


def escalation(
    *, ticket: str, asset: Asset, level: Level, reason: str, person: str, opened_at: datetime, timezone: str
) -> Message:
    title = f"[{level.value.upper()}] ESCALATED {ticket} {asset.name}"
    body = (
        f"{reason}. Ticket {ticket} on {asset.name} ({asset.id}), open since {_local(opened_at, timezone)}, "
        f"is escalated to you, {person}: nobody has acted in time."
    )
    return Message(title=title, body=body)
