"""Each report rendered from the simulated quarter, and looked at: the PNG charts opened, the PDF turned into
page images by poppler's ``pdftoppm`` (and its text read back by ``pdftotext``), the messages in both languages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from alerts.notify.reports.charts import cjk_family
from alerts.notify.reports.service import Reports
from tests.fixtures.servers import IN_CI
from tests.reports.quarter import Quarter, local, visits_of

pytestmark = pytest.mark.integration

TITLES = {
    "monthly": ("隐形服务清单", "Invisible-service list"),
    "repair": ("专项检修报告", "Targeted repair report"),
    "quarterly": ("季度维修公示", "Quarterly publication"),
}


def poppler(tool: str) -> str:
    """``pdftoppm``/``pdftotext`` (Debian's poppler-utils, installed by .ci/install-servers)."""
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is missing: apt-get install poppler-utils (make test does it when run as root)"
        if IN_CI or os.geteuid() == 0:
            pytest.fail(message)
        pytest.skip(message)
    return found


def looks_drawn(path: Path, min_size: tuple[int, int] = (300, 200)) -> None:
    """The image opens, has a sensible size and is not blank (charts and text have many colours)."""
    with Image.open(path) as image:
        image.load()
        assert image.width >= min_size[0] and image.height >= min_size[1], (path, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 8, f"{path.name} looks blank"
        darkest = min(sum(rgb) if isinstance(rgb, tuple) else int(rgb) * 3 for _, rgb in colours)
        assert darkest < 200, f"{path.name} has no dark ink (no text, no lines)"


def _subject(q: Quarter, kind: str) -> str:
    return {"monthly": "2026-08", "quarterly": "2026-Q3", "repair": q.rectification.id}[kind]


@pytest.mark.parametrize("kind", ["monthly", "repair", "quarterly"])
def test_each_report_renders_to_pngs_a_printable_pdf_and_messages_in_both_languages(
    quarter: Quarter, kind: str, tmp_path: Path
) -> None:
    reports = Reports(
        quarter.engine, quarter.site, sla=quarter.sla, telemetry=quarter.store, visits=visits_of
    )
    written = reports.write(kind, "b1", _subject(quarter, kind), "zh+en", tmp_path, local(10, 5))
    names = {p.name for p in written}
    for lang in ("zh", "en"):
        stem = f"{kind}-b1-{_subject(quarter, kind)}.{lang}"
        assert {f"{stem}.html", f"{stem}.pdf", f"{stem}.txt"} <= names
        pngs = sorted(tmp_path.glob(f"{stem}.*.png"))
        assert pngs, "no chart"
        for png in pngs:
            looks_drawn(png)
        pdf = tmp_path / f"{stem}.pdf"
        subprocess.run(
            [poppler("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / f"page-{lang}")], check=True
        )
        pages = sorted(tmp_path.glob(f"page-{lang}*.png"))
        assert len(pages) >= 1 + len(pngs), "a text page, then every chart"
        for page in pages:
            looks_drawn(page, (200, 100))
        text = subprocess.run(
            [poppler("pdftotext"), str(pdf), "-"], check=True, capture_output=True, text=True
        )
        zh_title, en_title = TITLES[kind]
        if lang == "zh" and cjk_family() is not None:
            assert zh_title in text.stdout  # the Chinese is real text in the PDF, not empty boxes
        if lang == "en":
            assert en_title in text.stdout
        message = (tmp_path / f"{stem}.txt").read_text("utf-8")
        assert (zh_title if lang == "zh" else en_title) in message.splitlines()[0]
        page_html = (tmp_path / f"{stem}.html").read_text("utf-8")
        assert page_html.count("data:image/png;base64,") == len(pngs)


def test_the_messages_say_the_figures(quarter: Quarter, tmp_path: Path) -> None:
    reports = Reports(
        quarter.engine, quarter.site, sla=quarter.sla, telemetry=quarter.store, visits=visits_of
    )
    reports.write("monthly", "b1", "2026-08", "zh+en", tmp_path, local(9, 1))
    zh = (tmp_path / "monthly-b1-2026-08.zh.txt").read_text("utf-8")
    en = (tmp_path / "monthly-b1-2026-08.en.txt").read_text("utf-8")
    assert "维保 3 次、检验 1 次" in zh and "31 天中 27 天无故障" in zh
    assert "maintained your building's machines 3 times" in en and "27 of 31 days were fault-free" in en
    reports.write("quarterly", "b2", "2026-Q3", "zh+en", tmp_path, local(10, 5))
    zh = (tmp_path / "quarterly-b2-2026-Q3.zh.txt").read_text("utf-8")
    assert "共完成维修 5 项（上季度 2 项" in zh and "¥2,000.00" in zh


def test_starting_facwatch_does_not_load_matplotlib() -> None:
    """The charts' library costs seconds to import on a busy machine: it is loaded when a report is drawn, not
    when a worker or the API starts (every process start waits for it otherwise)."""
    probe = "import sys, facwatch.app, facwatch.cli; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
