"""The owners' report page in headless Chromium against the API served on a loopback port: open the QR
code's link on a phone-sized screen, fill in, attach a phone's photo (with GPS in its EXIF), submit and see
the status page of that report; the stored photo has no GPS. A non-image and an oversized file get a clear
message, the rate limit's 429 reads as one too, and a tampered or expired code is refused with words.

``FACWATCH_DOC_IMG=docs/img`` also writes the screenshots that docs/owners.md shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from alerts.engine.events import EventBus
from alerts.engine.owner_desk import OwnerDesk
from alerts.engine.owner_values import DeskLimits
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from api.server import ServerHandle, serve
from facwatch.clock import WallClock
from facwatch.config import SlaSettings, load_site
from facwatch.owner_setup import PhotoDirectory, write_qr_codes
from facwatch.state import migrate, open_engine
from tests.api.fakes import FakeDeadLetters, FakeTelemetry
from tests.fixtures.servers import find_server
from tests.owners.conftest import SECRET, gps_of, jpeg_with_gps

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
PHONE = {"width": 390, "height": 844}
DOC_IMG = os.environ.get("FACWATCH_DOC_IMG")


@dataclass
class Served:
    handle: ServerHandle
    desk: OwnerDesk
    service: AlertService
    qr_dir: Path

    def link(self, building: str = "b1") -> str:
        """What scanning the building's QR code opens (``facwatch qr`` writes the PNG and this link)."""
        expires = datetime.now(UTC) + timedelta(days=30)
        [(_, png, link)] = [
            w
            for w in write_qr_codes(self.desk.site, SECRET, self.handle.url, self.qr_dir, expires)
            if w[0] == building
        ]
        assert png.read_bytes().startswith(b"\x89PNG")
        return link


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    bus, clock = EventBus(), WallClock()
    service = AlertService(engine, site, SlaSettings(), bus, OutboxNotifier(site))
    services = ApiServices(
        site=site,
        alerts=service,
        telemetry=FakeTelemetry(),
        dead_letters=FakeDeadLetters(),
        tokens=TokenStore(engine, clock),
        bus=bus,
        clock=clock,
    )
    limits = DeskLimits(device_reports=2, photo_max_bytes=512 * 1024)
    desk = OwnerDesk(engine, site, service, SECRET, PhotoDirectory(tmp_path / "photos"), limits)
    handle = serve(create_app(services, webhooks_worker=False, owner_desk=desk), "127.0.0.1", 0)
    try:
        yield Served(handle, desk, service, tmp_path / "qr")
    finally:
        handle.stop()
        bus.close()
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=find_server("chromium", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Page, name: str) -> None:
    if DOC_IMG:
        page.screenshot(path=str(Path(DOC_IMG) / name), full_page=True)


def _fill(page: Page, text: str) -> None:
    page.locator("#categories label", has=page.locator('input[value="leak"]')).click()
    page.fill("#text", text)
    page.fill("#unit", "1502")
    page.fill("#location", "B2 车库入口")


def test_an_owner_reports_a_leak_with_a_photo_and_follows_it(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    photo = tmp_path / "leak.jpg"
    photo.write_bytes(jpeg_with_gps())
    page = browser.new_page(viewport=PHONE, is_mobile=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served.link("b1"))
    expect(page.locator("#where")).to_have_text("1号楼 Building 1")
    expect(page.locator("#categories label")).to_have_count(7)
    expect(page.locator("#categories")).to_contain_text("漏水")  # Chinese by default
    _fill(page, "车库顶棚一直在滴水，地面很滑")
    page.set_input_files("#photos", str(photo))
    expect(page.locator("#previews img")).to_have_count(1)
    page.fill("#phone", "138 1234 5678")
    _shot(page, "report-form.png")
    page.click("#send")

    expect(page.locator("#status")).to_be_visible(timeout=15_000)
    expect(page.locator("#s-state")).to_have_text("已受理，等待处理")
    expect(page.locator("#s-phone")).to_have_text("138****5678")
    expect(page.locator("#s-photos img")).to_have_count(1)
    expect(page.locator("#s-steps li")).to_contain_text(["已收到报修"])
    ticket = page.locator("#s-ticket").inner_text()
    assert served.service.get_ticket(ticket).category == "leak"
    report_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('r')")
    stored, media = served.desk.photo(report_id, 1)
    assert media == "image/jpeg" and gps_of(stored) == {}  # the phone's GPS position is gone
    page.locator("#lang").click()
    expect(page.locator("#s-state")).to_have_text("Received, waiting for the desk")
    _shot(page, "report-status-en.png")

    # Another device opening the same status link sees this report, by its id alone.
    other = browser.new_page(viewport=PHONE)
    other.goto(page.url)
    expect(other.locator("#s-text")).to_have_text("车库顶棚一直在滴水，地面很滑")
    assert errors == [], errors


def test_a_non_image_an_oversized_photo_and_the_rate_limit_read_as_clear_messages(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport=PHONE, is_mobile=True)
    page.goto(served.link("b2"))
    expect(page.locator("#report")).to_be_visible()
    _fill(page, "电梯厅灯不亮")
    not_image = tmp_path / "scan.jpg"  # named like a photo, but it is not one: the server says so
    not_image.write_bytes(b"%PDF-1.7 this is a document")
    page.set_input_files("#photos", str(not_image))
    page.click("#send")
    expect(page.locator("#form-error")).to_have_text("只能上传 JPEG 或 PNG 格式的照片")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(600 * 1024))
    page.set_input_files("#photos", str(huge))
    expect(page.locator("#form-error")).to_have_text("照片太大了，每张不能超过 0.5 MB")
    _shot(page, "report-refused.png")
    page.set_input_files("#photos", [])

    # Two reports from this phone are taken, the third is refused with when to try again.
    for n in range(2):
        page.goto(served.link("b2"))
        page.reload()
        _fill(page, f"电梯厅灯不亮 {n}")
        page.click("#send")
        expect(page.locator("#status")).to_be_visible(timeout=15_000)
    page.goto(served.link("b2"))
    page.reload()
    _fill(page, "还是不亮")
    page.fill("#phone", "12345")  # a number nobody can call back: said in words, nothing is sent
    page.click("#send")
    expect(page.locator("#form-error")).to_have_text("手机号格式不对，请填写11位手机号或带区号的座机号")
    page.fill("#phone", "")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/report") and r.status == 429):
        page.click("#send")
    expect(page.locator("#form-error")).to_contain_text("提交太频繁了")


def test_a_tampered_or_expired_code_is_refused_with_words(served: Served, browser: Browser) -> None:
    page = browser.new_page(viewport=PHONE)
    tampered = served.link("b1").replace(".b1.", ".b2.")
    with page.expect_response(lambda r: "/api/v1/report/building" in r.url and r.status == 403):
        page.goto(tampered)
    expect(page.locator("#problem")).to_have_text("二维码无效或已过期，请重新扫描楼内张贴的二维码")
    expect(page.locator("#report")).to_be_hidden()
    expired = served.desk.sign("b1", datetime.now(UTC) - timedelta(minutes=1))
    page.goto(f"{served.handle.url}/report.html#t={expired}")
    page.reload()
    expect(page.locator("#problem")).to_be_visible()
    expect(page.locator("#report")).to_be_hidden()
