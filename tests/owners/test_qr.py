"""``facwatch qr``: a PNG per building whose link carries a token the API accepts for that building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from alerts.engine.owner_identity import BuildingPass, check_building
from facwatch.cli import main

SECRET = "qr-test-secret-0123456789abcdef"


def test_qr_writes_a_png_per_building_linking_to_the_report_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACWATCH_OWNER_REPORTS__SECRET", SECRET)
    out = tmp_path / "qr"
    assert (
        main(["qr", "--site", "demo", "--out", str(out), "--url", "https://fw.example.com", "--days", "90"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["b1.png", "b2.png"]
    assert Image.open(out / "b1.png").format == "PNG"
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("b1:")]
    link = lines[0].split()[-1]
    assert link.startswith("https://fw.example.com/report.html#t=v1.lakeside.b1.")
    token = link.split("#t=", 1)[1]
    checked = check_building(SECRET, token, "lakeside", {"b1", "b2"}, datetime.now(UTC))
    assert isinstance(checked, BuildingPass) and checked.building == "b1"
    assert checked.expires - datetime.now(UTC) > timedelta(days=89)


def test_qr_without_a_secret_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FACWATCH_OWNER_REPORTS__SECRET", raising=False)
    assert main(["qr", "--site", "demo", "--out", str(tmp_path)]) == 1
    assert "[owner_reports] secret" in capsys.readouterr().err
