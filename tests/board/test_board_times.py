"""The board shows times in the site's zone and the page's language, whatever the browser's zone and locale
(issue 18, part 5): a browser in New York with an American locale watches a site in Shanghai and reads
Shanghai's 24-hour time, as the engineers' messages say it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.board.conftest import ENTRAPPED, Live

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ALERT = f'li.alert.red[data-asset="{ENTRAPPED}"]'


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_the_board_shows_the_sites_time_in_24_hours_in_a_browser_elsewhere(
    live: Live, browser: Browser
) -> None:
    assert live.site.timezone == "Asia/Shanghai"
    context = browser.new_context(
        timezone_id="America/New_York", locale="en-US", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live.board_url)
    expect(page.locator(ALERT)).to_be_visible(timeout=50_000)

    headers = {"Authorization": f"Bearer {live.token}"}
    alert_id = page.locator(ALERT).get_attribute("data-alert-id")
    alert = httpx.get(f"{live.system.api_url}/api/v1/alerts/{alert_id}", headers=headers, timeout=5).json()
    opened = datetime.fromisoformat(alert["opened_at"].replace("Z", "+00:00"))
    shanghai = opened.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
    new_york = opened.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M:%S")
    assert shanghai != new_york

    meta = page.locator(f"{ALERT} .meta")
    expect(meta).to_contain_text(f"开始 {shanghai}")  # the Chinese board: the site's time, 24-hour
    text = meta.inner_text()
    assert new_york not in text and not re.search(r"\b(AM|PM|上午|下午)\b", text), text
    updated = page.locator("#assets-updated").inner_text()
    assert re.search(r"\d\d:\d\d:\d\d$", updated) and "M" not in updated, updated

    # Channels and alerts in people's words: labels with units, never an internal channel.
    card = page.locator(f'div.asset[data-asset-id="{ENTRAPPED}"]')
    expect(card.locator(".spark-label").nth(1)).to_have_text("电机电流")
    expect(card.locator(".spark-value").nth(1)).to_contain_text(" A")
    expect(page.locator(f"{ALERT} .what")).to_contain_text("电梯困人")
    assert "local_hour" not in page.locator("body").inner_text()
    ticket = page.locator(
        f'li.ticket[data-ticket-id="{page.locator(ALERT).get_attribute("data-ticket-id")}"]'
    )
    expect(ticket.locator(".title")).to_have_text(
        "1号楼1单元电梯 · 电梯困人"
    )  # no English on the Chinese board

    page.locator("#lang").click()  # English: still the site's clock
    expect(meta).to_contain_text(f"opened {shanghai}")
    assert not re.search(r"\b(AM|PM)\b", meta.inner_text())
    expect(card.locator(".spark-label").nth(1)).to_have_text("motor current")
    expect(ticket.locator(".title")).to_have_text(
        "Building 1 unit 1 elevator · someone trapped in the elevator"
    )
    assert errors == [], errors
    context.close()
