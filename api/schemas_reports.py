"""The JSON shapes of the SLA and incident reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from facwatch.model import Level

SLA_ROW_EXAMPLE: dict[str, JsonValue] = {
    "site": "lakeside", "level": "red", "tickets": 3, "acknowledged": 3, "arrived": 3, "fixed": 3,
    "ack_p50_s": 24.0, "ack_p90_s": 51.0, "arrive_p50_s": 150.0, "arrive_p90_s": 172.0, "fix_p50_s": 2400.0,
    "fix_p90_s": 5100.0, "ack_breaches": 0, "arrive_breaches": 0, "fix_breaches": 0,
}  # fmt: skip
INCIDENT_ROW_EXAMPLE: dict[str, JsonValue] = {
    "period": "2024-Q2", "site": "lakeside", "asset": "b1-elev-1", "kind": "elevator.entrapment",
    "level": "red", "count": 2,
}  # fmt: skip


class SlaRowOut(BaseModel):
    """SLA compliance of one level on one site: counts, p50/p90 times in seconds, breaches."""

    site: str = Field(description="Id of the site")
    level: Level = Field(description="The tickets' level")
    tickets: int = Field(description="Tickets opened in the span")
    acknowledged: int = Field(description="Of them, acknowledged")
    arrived: int = Field(description="Of them, reached on site")
    fixed: int = Field(description="Of them, fixed")
    ack_p50_s: float | None = Field(description="Median seconds to acknowledge, or null without any")
    ack_p90_s: float | None = Field(
        description="90th percentile of seconds to acknowledge, or null without any"
    )
    arrive_p50_s: float | None = Field(description="Median seconds to reach the site, or null without any")
    arrive_p90_s: float | None = Field(
        description="90th percentile of seconds to reach the site, or null without any"
    )
    fix_p50_s: float | None = Field(description="Median seconds to fix, or null without any")
    fix_p90_s: float | None = Field(description="90th percentile of seconds to fix, or null without any")
    ack_breaches: int = Field(description="Tickets that missed the acknowledge deadline")
    arrive_breaches: int = Field(description="Tickets that missed the on-site deadline")
    fix_breaches: int = Field(description="Tickets that missed the fix deadline")
    arrived_corroborated: int = Field(
        default=0, description="Of the arrivals, those the sensors corroborated (the rest: the code only)"
    )
    arrive_corroborated_p50_s: float | None = Field(
        default=None, description="Median seconds to reach the site, corroborated arrivals only"
    )
    arrive_code_only_p50_s: float | None = Field(
        default=None, description="Median seconds to reach the site, arrivals shown by the code only"
    )
    company: str | None = Field(
        default=None, description="Null: every ticket of the level; a company: the tickets dispatched to it"
    )


class SlaReportOut(BaseModel):
    since: datetime = Field(description="Start of the span (inclusive)")
    until: datetime = Field(description="End of the span (exclusive)")
    rows: list[SlaRowOut] = Field(description="One row per site and level")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2024-04-01T00:00:00Z",
                    "until": "2024-05-01T00:00:00Z",
                    "rows": [SLA_ROW_EXAMPLE],
                }
            ]
        }
    )


class IncidentRowOut(BaseModel):
    period: str = Field(description="`2024-05` (month) or `2024-Q2` (quarter)")
    site: str = Field(description="Id of the site")
    asset: str = Field(description="Id of the asset")
    kind: str = Field(description="The alerts' kind")
    level: Level = Field(description="The alerts' level")
    count: int = Field(description="Alerts opened")


class IncidentReportOut(BaseModel):
    since: datetime = Field(description="Start of the span (inclusive)")
    until: datetime = Field(description="End of the span (exclusive)")
    period: str = Field(description="`month` or `quarter`")
    rows: list[IncidentRowOut] = Field(description="One row per period, asset, kind and level")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "since": "2024-01-01T00:00:00Z",
                    "until": "2024-07-01T00:00:00Z",
                    "period": "quarter",
                    "rows": [INCIDENT_ROW_EXAMPLE],
                }
            ]
        }
    )
