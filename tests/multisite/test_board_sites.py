"""The board's site picker in headless Chromium, against one process serving two sites: a token that sees
both sites picks all or one, and the tickets follow the pick; a token limited to one site gets no picker and
that site's tickets only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from alerts.engine.ports import OwnerReport
from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from tests.fixtures.mqtt import MosquittoBroker
from tests.fixtures.servers import find_server, free_port
from tests.multisite.sites import write_site

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def system(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[System]:
    folder = tmp_path / "sites"
    folder.mkdir()
    sites = [load_site(write_site(folder, sid)) for sid in ("a", "b")]
    settings = load_settings(
        data_dir=tmp_path / "data",
        api={"port": free_port()},
        mqtt={"url": mosquitto.url, "client_id": "fw-board"},
    )
    system = build(settings, sites)
    system.start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=find_server("chromium", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _report(system: System, site: str) -> str:
    report = OwnerReport(
        site=site, building="b1", category="elevator", text=f"lift noise in {site}", reporter="t"
    )
    return system.runtimes[site].alerts.open_owner_ticket(report, datetime.now(UTC)).id


def test_the_site_picker_filters_the_board(system: System, browser: Browser) -> None:
    in_a, in_b = _report(system, "a"), _report(system, "b")
    everyone = system.tokens.create("board-all", ["engineer"])
    only_a = system.tokens.create("board-a", ["engineer"], sites=["a"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{system.api_url}/#token={everyone}")
    picker = page.locator("#site-picker")
    expect(picker).to_be_visible(timeout=15_000)
    expect(picker.locator("option")).to_have_count(3)  # all sites, a, b
    expect(page.locator(f'[data-ticket-id="{in_a}"]')).to_be_visible(timeout=15_000)
    expect(page.locator(f'[data-ticket-id="{in_b}"]')).to_be_visible()
    picker.select_option("b")
    expect(page.locator(f'[data-ticket-id="{in_a}"]')).to_have_count(0, timeout=10_000)
    expect(page.locator(f'[data-ticket-id="{in_b}"]')).to_be_visible()
    picker.select_option("")
    expect(page.locator(f'[data-ticket-id="{in_a}"]')).to_be_visible(timeout=10_000)

    limited = browser.new_page(viewport={"width": 1280, "height": 900})
    limited.on("pageerror", lambda exc: errors.append(str(exc)))
    limited.goto(f"{system.api_url}/#token={only_a}")
    expect(limited.locator(f'[data-ticket-id="{in_a}"]')).to_be_visible(timeout=15_000)
    expect(limited.locator(f'[data-ticket-id="{in_b}"]')).to_have_count(0)
    expect(limited.locator("#site-picker")).to_be_hidden()
    expect(limited.locator("#site-name")).to_have_text("a")
    assert errors == [], errors
