"""The ``[reports]`` settings: owners' reports, their schedule and their signed web pages (docs/reports.md).

Kept apart from ``facwatch/config.py``, which only names the section.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportSettings(BaseModel):
    """When the monthly and quarterly reports go to the owner groups, and how their pages are signed."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a silent default

    monthly: bool = True
    """Send each building's invisible-service list for the month that ended."""
    monthly_day: int = Field(default=1, ge=1, le=28)
    """Day of the month (site time zone) on which last month's list goes out."""
    quarterly: bool = True
    """Send the compound's quarterly publication for the quarter that ended."""
    quarterly_day: int = Field(default=5, ge=1, le=28)
    """Day of the first month of a quarter on which the last quarter's publication goes out."""
    send_hour: int = Field(default=10, ge=0, le=23)
    """Hour (site time zone) from which a due report is sent; never in the owners' quiet hours."""
    page_secret: str | None = None
    """The key that signs report page links (HMAC-SHA256); not ``[owner_reports] secret`` (which signs the QR
    codes and keys the points). Unset: pages are off, messages carry no link."""
    page_days: float = Field(default=45.0, gt=0, le=400)
    """How long a page link stays valid."""
    public_url: str | None = None
    """Where owners reach the API; links are ``{public_url}/owners/reports/...``. Filled from the top-level
    ``public_url`` (set that one: it is the QR codes' address too); unset: messages carry no link."""
    currency: str = "¥"
    """Printed before costs."""


def one_public_url(*given: str | None) -> str | None:
    """The one address owners reach facwatch at, from the top-level ``public_url`` and the sections' own
    (``[reports]``, ``[owner_reports]``); two different ones are a mistake (ValueError)."""
    urls = sorted({u.rstrip("/") for u in given if u})
    if len(urls) > 1:
        raise ValueError(
            f"owners reach facwatch at one address: set the top-level public_url once (found {', '.join(urls)})"
        )
    return urls[0] if urls else None


def distinct_secrets(page_secret: str | None, owners_secret: str | None) -> None:
    """``[reports] page_secret`` and ``[owner_reports] secret`` sign different things: one key must not
    serve both (a leaked or rotated one would void the other's links)."""
    if page_secret and page_secret == owners_secret:
        raise ValueError("[reports] page_secret and [owner_reports] secret must differ")
