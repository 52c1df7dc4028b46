"""The live board lists the planned maintenance windows (headless Chromium against the whole system): a
window planned through the API appears in its section, in the board's language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.board.conftest import Live
from tests.board.conftest import chromium_path as chromium_path  # the board's fixtures, re-exported
from tests.board.conftest import live as live

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def test_the_board_lists_planned_windows(live: Live, browser: Browser) -> None:
    start = datetime.now(UTC) + timedelta(hours=2)
    window = {
        "asset": "b1-elev-2",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "what": "半月保养 half-monthly maintenance",
    }
    headers = {"Authorization": f"Bearer {live.token}"}
    made = httpx.post(
        f"{live.system.api_url}/api/v1/maintenance/windows", json=window, headers=headers, timeout=10
    )
    assert made.status_code == 201, made.text
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live.board_url)
    expect(page.locator("#maintenance-panel")).to_be_visible(timeout=15_000)
    card = page.locator("#windows li")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("W-000001")
    expect(card).to_contain_text("半月保养")
    expect(page.locator("h2 [data-i18n=maintenance]")).to_have_text("维保计划")
    assert errors == [], errors
