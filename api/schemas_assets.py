"""The JSON shapes of assets, their readings, dead letters and health (the telemetry side of the contract)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alerts.notify.channel_words import LANGS, channel
from api.schemas import PageOut
from facwatch.model import (
    Asset,
    AssetKind,
    DeadLetter,
    DeadLetterReason,
    Point,
    utc_from_ms,
)


class LatestValueOut(BaseModel):
    ts: datetime = Field(description="When the value was read")
    value: float = Field(description="The value, in the channel's unit")
    label: dict[str, str] = Field(
        default_factory=dict, description="The channel's name for people, by language (`zh`, `en`)"
    )
    unit: str = Field(
        default="", description="The channel's unit (`A`, `bar`, `m³/h`), empty when it has none"
    )
    internal: bool = Field(
        default=False, description="One of facwatch's own figures (e.g. `local_hour`): never shown to people"
    )
    boolean: bool = Field(default=False, description="A yes/no channel (1 or 0), e.g. `door_open`")


def channel_words(name: str) -> dict[str, object]:
    """A channel's label, unit, internal and boolean flags for the API (alerts.notify.channel_words: one registry)."""
    entry = channel(name)
    return {
        "label": {lang: entry.label(lang) for lang in LANGS},
        "unit": entry.unit,
        "internal": entry.internal,
        "boolean": entry.boolean,
    }


class AssetOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "b1-elev-1",
                    "site": "lakeside",
                    "kind": "elevator",
                    "building": "b1",
                    "building_name": "Building 1",
                    "name": "Elevator 1",
                    "interval_s": 10.0,
                    "rated": {"current_a": 40.0},
                    "last_seen": "2024-05-01T08:00:00Z",
                    "latest": {"current_a": {"ts": "2024-05-01T08:00:00Z", "value": 12.5}},
                }
            ]
        }
    )
    id: str = Field(description="The asset's id")
    site: str = Field(description="Id of the site")
    kind: AssetKind = Field(description="What kind of machine it is")
    building: str = Field(description="Id of its building")
    building_name: str = Field(description="Its building's name")
    name: str = Field(description="Its name")
    interval_s: float = Field(description="Seconds between its readings, as configured")
    rated: dict[str, float] = Field(description="Its rated values per channel (e.g. rated current)")
    last_seen: datetime | None = Field(description="Time of the newest reading of any channel")
    latest: dict[str, LatestValueOut] = Field(description="The latest value of each channel")

    @classmethod
    def from_asset(cls, site: str, asset: Asset, building_name: str, latest: Mapping[str, Point]) -> AssetOut:
        values = {
            channel: LatestValueOut(ts=utc_from_ms(point.ts_ms), value=point.value, **channel_words(channel))
            for channel, point in sorted(latest.items())
        }
        last_ms = max((p.ts_ms for p in latest.values()), default=None)
        return cls(
            id=asset.id,
            site=site,
            kind=asset.kind,
            building=asset.building,
            building_name=building_name,
            name=asset.name,
            interval_s=asset.interval_s,
            rated=dict(asset.rated),
            last_seen=None if last_ms is None else utc_from_ms(last_ms),
            latest=values,
        )


class PointOut(BaseModel):
    ts: datetime = Field(description="When (the window's start for an aggregate)")
    channel: str = Field(description="The channel read")
    value: float = Field(description="The value (or the window's aggregate)")


class ReadingsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "asset": "b1-pump-1",
                    "channel": "pressure_bar",
                    "start": "2024-05-01T08:00:00Z",
                    "end": "2024-05-01T09:00:00Z",
                    "every_s": 600.0,
                    "fn": "mean",
                    "points": [{"ts": "2024-05-01T08:00:00Z", "channel": "pressure_bar", "value": 3.2}],
                }
            ]
        }
    )
    asset: str = Field(description="Id of the asset")
    channel: str = Field(description="The channel read")
    start: datetime = Field(description="Start of the span (inclusive)")
    end: datetime = Field(description="End of the span (exclusive)")
    every_s: float | None = Field(description="The aggregation window in seconds, or null for raw points")
    fn: str | None = Field(description="The aggregate (mean, min, max, last), or null for raw points")
    points: list[PointOut] = Field(description="The points, oldest first")


class DeadLetterOut(BaseModel):
    id: int | None = Field(description="The dead letter's id")
    topic: str = Field(description="The MQTT topic it came on")
    reason: DeadLetterReason = Field(description="Why it was refused")
    detail: str = Field(description="What exactly was wrong")
    payload: str = Field(description="The (truncated) payload as text; undecodable bytes are replaced")
    received_at: datetime = Field(description="When the gateway received it")

    @classmethod
    def from_letter(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(
            id=letter.id,
            topic=letter.topic,
            reason=letter.reason,
            detail=letter.detail,
            payload=letter.payload.decode("utf-8", errors="replace"),
            received_at=utc_from_ms(letter.received_ms),
        )


class DeadLetterPageOut(PageOut[DeadLetterOut]):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 4,
                            "topic": "facwatch/lakeside/b1-elev-9/state",
                            "reason": "unknown_asset",
                            "detail": "no asset b1-elev-9",
                            "payload": '{"door": 1}',
                            "received_at": "2024-05-01T08:00:00Z",
                        }
                    ],
                    "next": None,
                    "counts": {"unknown_asset": 1},
                }
            ]
        }
    )
    counts: dict[str, int] = Field(description="Dead letters kept so far, per reason")


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "site": "lakeside", "time": "2024-05-01T08:00:00Z", "subscribers": 2}
            ]
        }
    )
    status: str = Field(description="`ok` while the process runs")
    site: str = Field(description="Id of the site this process watches")
    time: datetime = Field(description="The process's clock")
    subscribers: int = Field(description="Event stream subscribers now")
