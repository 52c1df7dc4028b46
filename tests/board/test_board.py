"""The live board in headless Chromium against the real system: an entrapment from the simulator appears
without a reload, its on-site countdown runs, and a check-in from the page (with the code posted at the
car) stops it. Also: Chinese by default, English by the toggle, and a phone-sized screen."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def _left_ms(page: Page) -> int:
    return int(page.locator(f"{ALERT} .countdown").get_attribute("data-left-ms") or "0")


def _ticket_state(live: Live, ticket_id: str) -> str:
    headers = {"Authorization": f"Bearer {live.token}"}
    response = httpx.get(f"{live.system.api_url}/api/v1/tickets/{ticket_id}", headers=headers, timeout=5)
    return str(response.json()["state"])


def test_an_entrapment_appears_live_counts_down_and_a_check_in_stops_it(live: Live, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live.board_url)
    expect(page.locator("#live.on")).to_be_visible(timeout=15_000)  # the event stream is connected
    expect(page.locator(ALERT)).to_have_count(0)  # before the fault: no alert on the page
    page.evaluate("window.__loadedOnce = 'yes'")  # survives only if the page never reloads

    expect(page.locator(ALERT)).to_be_visible(timeout=45_000)
    assert page.evaluate("window.__loadedOnce") == "yes", "the alert came with a reload"
    expect(page.locator(f"{ALERT} .badge")).to_have_text("红色")  # Chinese is the default
    expect(page.locator(f"{ALERT} .escalation")).to_contain_text("值班工程师")

    countdown = page.locator(f"{ALERT} .countdown")
    expect(countdown).to_have_attribute("data-deadline", re.compile(r"\d+"), timeout=15_000)
    first = _left_ms(page)
    assert 0 < first <= 180_000, f"a RED alert gives 3 minutes to be on site, the page shows {first} ms"
    deadline = time.monotonic() + 10
    while _left_ms(page) > first - 1500 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert _left_ms(page) <= first - 1500, "the countdown does not run"

    ticket_id = page.locator(ALERT).get_attribute("data-ticket-id")
    assert ticket_id
    code = next(a.checkin_code for a in live.site.assets if a.id == ENTRAPPED)
    page.once("dialog", lambda dialog: dialog.accept(code))
    page.locator(f'{ALERT} button[data-action="check_in"]').click()

    expect(countdown).to_have_class(re.compile(r"\bdone\b"), timeout=15_000)
    expect(countdown).not_to_have_attribute("data-deadline", re.compile(".*"))
    assert _ticket_state(live, ticket_id) == "on_site"
    assert errors == [], errors


def test_a_wrong_code_is_refused_on_the_page(live: Live, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live.board_url)
    expect(page.locator(ALERT)).to_be_visible(timeout=45_000)
    page.once("dialog", lambda dialog: dialog.accept("0000"))
    page.locator(f'{ALERT} button[data-action="check_in"]').click()
    expect(page.locator("#toast.bad")).to_contain_text("check-in refused", timeout=10_000)
    expect(page.locator(f"{ALERT} .countdown[data-deadline]")).to_be_visible()


def test_english_toggle_and_phone_screen(live: Live, browser: Browser) -> None:
    context: Any = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live.board_url)
    expect(page.locator("[data-asset-id]").first).to_be_visible(timeout=15_000)
    expect(page.locator("h2 [data-i18n=alerts]")).to_have_text("告警")
    page.locator("#lang").click()
    expect(page.locator("h2 [data-i18n=alerts]")).to_have_text("Alerts")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # Nothing is wider than the phone: no sideways scrolling in the control room's pocket.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    expect(page.locator('[data-metric="readingsPerS"] dd')).not_to_have_text("—", timeout=15_000)
    context.close()
