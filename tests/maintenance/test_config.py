"""The site file's maintenance sections: parsed into domain values, and refused with a clear error."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from importlib import resources

import pytest

from facwatch.config import parse_site
from facwatch.errors import ConfigError

SECTIONS = """
[[companies]]
id = "sh-lift"
name = "上海电梯维保 Shanghai Lift Service"
contacts = [{ id = "sh-lift-duty", name = "值班 duty", notify = ["json://127.0.0.1:9/lift"], lang = "zh+en" }]

[[maintenance_plans]]
asset = "b1-elev-1"
company = "sh-lift"
certificate = "TSX-2025-0113"
certificate_expires = 2026-01-31
last_visit = 2025-02-20

[[maintenance_plans]]
asset = "b1-pump-1"

[[maintenance_windows]]
asset = "b1-elev-1"
start = 2025-03-05T09:00:00
end = 2025-03-05T11:00:00
company = "sh-lift"
what = "半月保养 half-monthly maintenance"
"""


def _demo(extra: str) -> dict[str, object]:
    text = resources.files("facwatch").joinpath("sites/demo.toml").read_text(encoding="utf-8")
    return tomllib.loads(text + extra)


def test_plans_companies_and_windows_become_domain_values() -> None:
    site = parse_site(_demo(SECTIONS), "demo.toml", {"data_dir": "/tmp"})
    m = site.maintenance
    (company,) = m.companies
    assert company.id == "sh-lift" and company.contacts[0].notify == ("json://127.0.0.1:9/lift",)
    assert company.contacts[0].lang == "zh+en"
    elevator, pump = m.plans
    assert elevator.interval_days == 15 and pump.interval_days == 30  # the defaults per asset kind
    assert elevator.certificate_expires == datetime(2026, 1, 30, 16, 0, tzinfo=UTC)  # local midnight
    (window,) = m.windows
    assert (window.ref, window.start, window.end) == (
        "S-b1-elev-1-20250305T0900",  # no ref of its own: the asset and the local start
        datetime(2025, 3, 5, 1, 0, tzinfo=UTC),
        datetime(2025, 3, 5, 3, 0, tzinfo=UTC),
    )


def test_a_site_without_them_has_none() -> None:
    site = parse_site(_demo(""), "demo.toml", {"data_dir": "/tmp"})
    assert site.maintenance.plans == () and site.maintenance.windows == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("interval_days", 'asset = "b1-pump-1"', 'asset = "b1-pump-1"\nintervall_days = 3'),
            "intervall_days",
        ),
        (("asset", 'asset = "b1-pump-1"', 'asset = "nowhere"'), "unknown asset 'nowhere'"),
        (("company", 'company = "sh-lift"\nwhat', 'company = "otis"\nwhat'), "unknown company 'otis'"),
        (("end", "end = 2025-03-05T11:00:00", "end = 2025-03-05T08:00:00"), "end must be after start"),
        (("url", "json://127.0.0.1:9/lift", "not a url"), "apprise URL"),
        (("lang", 'lang = "zh+en"', 'lang = "fr"'), "lang must be one of"),
        (("date", "certificate_expires = 2026-01-31", 'certificate_expires = "soon"'), "certificate_expires"),
    ],
)
def test_mistakes_are_refused_naming_the_key(change: tuple[str, str, str], message: str) -> None:
    _what, old, new = change
    assert old in SECTIONS
    with pytest.raises(ConfigError) as caught:
        parse_site(_demo(SECTIONS.replace(old, new, 1)), "demo.toml", {"data_dir": "/tmp"})
    assert "demo.toml" in str(caught.value) and message in str(caught.value)
