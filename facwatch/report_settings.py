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
    """The key that signs report page links (HMAC-SHA256). Unset: pages are off, messages carry no link."""
    page_days: float = Field(default=45.0, gt=0, le=400)
    """How long a page link stays valid."""
    public_url: str | None = None
    """Where owners reach the API (``https://fw.example.com``); links are ``{public_url}/owners/reports/...``.
    Unset: messages carry no link."""
    currency: str = "¥"
    """Printed before costs."""
