"""The signed read-only report page per building, served by the real API over HTTP: a good link answers the
page, a changed one or an expired one 403, and headless Chromium (Debian's, through Playwright) opens it and
shows its title, tables and charts, with nothing blocked by the page's content policy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import sync_playwright

from alerts.engine.events import EventBus
from alerts.notify.reports.service import Reports
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from api.server import ServerHandle, serve
from facwatch.clock import ManualClock
from facwatch.config import ReportSettings
from tests.api.fakes import FakeDeadLetters
from tests.fixtures.servers import find_server, free_port
from tests.reports.quarter import Quarter, local, visits_of

pytestmark = pytest.mark.integration
SECRET = "page-secret-for-tests"


@dataclass
class Served:
    handle: ServerHandle
    reports: Reports
    clock: ManualClock

    def link(self, kind: str, building: str, subject: str, lang: str = "zh") -> str:
        found = self.reports.link(kind, building, subject, lang, self.clock.now())
        assert found is not None
        return found


@pytest.fixture
def served(quarter: Quarter) -> Iterator[Served]:
    clock = ManualClock(local(9, 2, 9))
    port = free_port()
    settings = ReportSettings(page_secret=SECRET, public_url=f"http://127.0.0.1:{port}", page_days=30)
    reports = Reports(
        quarter.engine, quarter.site, settings, quarter.sla, telemetry=quarter.store, visits=visits_of
    )
    services = ApiServices(
        site=quarter.site,
        alerts=quarter.service,
        telemetry=quarter.store,
        dead_letters=FakeDeadLetters(),
        tokens=TokenStore(quarter.engine, clock),
        bus=EventBus(),
        clock=clock,
        reports=reports,
    )
    handle = serve(create_app(services, webhooks_worker=False), "127.0.0.1", port)
    try:
        yield Served(handle, reports, clock)
    finally:
        handle.stop()


def _tampered(url: str, old: str, new: str) -> str:
    assert old in url
    return url.replace(old, new, 1)


def test_a_good_link_shows_the_page_a_changed_or_expired_one_is_refused(served: Served) -> None:
    good = served.link("monthly", "b1", "2026-08")
    answer = httpx.get(good, timeout=30)
    assert answer.status_code == 200, answer.text
    assert "隐形服务清单" in answer.text and "1号楼" in answer.text
    assert "script-src" not in answer.headers["content-security-policy"]  # no script may run on it
    printable = httpx.get(good + "&format=pdf", timeout=60)
    assert printable.status_code == 200 and printable.content.startswith(b"%PDF")
    assert "format=pdf" in answer.text  # the page links its PDF
    for changed in (
        _tampered(good, "/b1/", "/b2/"),  # another building's page with building 1's signature
        _tampered(good, "2026-08", "2026-07"),
        _tampered(good, "lang=zh", "lang=en"),
        _tampered(good, "sig=", "sig=0"),
    ):
        for form in ("", "&format=pdf"):
            refused = httpx.get(changed + form, timeout=30)
            assert refused.status_code == 403 and "signature" in refused.json()["detail"], changed
    no_signature = good.split("?")[0]
    assert httpx.get(no_signature, timeout=30).status_code == 403
    served.clock.advance(timedelta(days=31).total_seconds())  # the link was good for 30 days
    expired = httpx.get(good, timeout=30)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]


def test_a_signed_link_to_something_that_does_not_exist_is_404(served: Served) -> None:
    url = served.link("repair", "b1", "T-999999")
    assert httpx.get(url, timeout=30).status_code == 404
    wrong_site = urlsplit(url)._replace(path=urlsplit(url).path.replace("/lakeside/", "/elsewhere/")).geturl()
    assert httpx.get(wrong_site, timeout=30).status_code == 404


def test_headless_chromium_opens_the_page_with_its_charts(served: Served, quarter: Quarter) -> None:
    chromium = find_server("chromium", "/usr/bin/chromium")
    url = served.link("quarterly", "b2", "2026-Q3", "en")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1200})
            problems: list[str] = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert page.locator("#title").inner_text().startswith("Quarterly publication")
            assert page.locator("table").count() >= 2
            charts = page.locator("img[data-chart]")
            assert charts.count() == 2
            widths = charts.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert all(w > 300 for w in widths), widths  # drawn, not blocked by the content policy
            assert problems == []
        finally:
            browser.close()
