"""Screenshots of the live board for the docs: the whole system in-process with a scripted entrapment, then
headless Chromium (Debian's, through Playwright) on a desktop and a phone screen.

    .venv/bin/python scripts/board_screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Writes board-desktop.png, board-phone.png (Chinese, the default) and board-desktop-en.png.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from facwatch.app import build
from facwatch.config import load_settings, load_site
from facwatch.model import ms_from_utc
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario

SCENARIO = """
[[faults]]
asset = "b1-elev-1"
kind = "entrapment"
at_s = 5

[[faults]]
asset = "b2-pump-1"
kind = "trip"
at_s = 5
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = load_settings(data_dir=data, api={"port": _free_port()})
        site = load_site("demo", variables={"data_dir": str(data)})
        (data / "scenario.toml").write_text(SCENARIO)
        system = build(settings, site)
        system.start(embedded_broker=True)
        stop = threading.Event()
        sim = threading.Thread(
            target=run_publisher,
            kwargs={
                "site": site,
                "scenario": load_scenario(str(data / "scenario.toml")),
                "broker_url": settings.mqtt.url,
                "seed": 7,
                "stop": stop,
                "start_ms": ms_from_utc(datetime.now(UTC)),
            },
            daemon=True,
        )
        sim.start()
        try:
            token = system.tokens.create("screenshots", ["engineer"])
            _wait_for_alert(system.api_url, token)
            time.sleep(30)  # let the sparklines fill a little
            _shoot(args, f"{system.api_url}/#token={token}")
        finally:
            stop.set()
            sim.join(10)
            system.stop()


def _wait_for_alert(url: str, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(
            f"{url}/api/v1/alerts", params={"level": "red"}, headers={"Authorization": f"Bearer {token}"}
        ).json()
        if body["items"]:
            return
        time.sleep(0.5)
    raise SystemExit("no RED alert within a minute: is the simulator running?")


def _shoot(args: argparse.Namespace, board: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        shots = [
            ("board-desktop.png", {"width": 1440, "height": 1000}, False, "zh"),
            ("board-desktop-en.png", {"width": 1440, "height": 1000}, False, "en"),
            ("board-phone.png", {"width": 390, "height": 844}, True, "zh"),
        ]
        for name, viewport, mobile, lang in shots:
            context = browser.new_context(viewport=viewport, is_mobile=mobile, device_scale_factor=1)  # type: ignore[arg-type]
            page = context.new_page()
            page.add_init_script(f"localStorage.setItem('facwatch.lang', '{lang}')")
            page.goto(board)
            page.wait_for_selector("li.alert.red", timeout=30_000)
            page.wait_for_timeout(5000)  # sparklines and the data-path rate need two samples
            page.screenshot(path=str(args.out / name), full_page=not mobile)
            print(f"wrote {args.out / name}")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
