"""``facwatch simulate``'s work: files with --out, a broker without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.cli import simulate


def test_simulate_to_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate("demo", "incidents", "mqtt://unused:1883", duration=1200, seed=3, out=tmp_path)
    assert code == 0
    assert len(list(tmp_path.glob("*.csv"))) == 9
    labels = [orjson.loads(x) for x in (tmp_path / "labels.jsonl").read_bytes().splitlines()]
    assert [x["fault"] for x in labels] == ["entrapment", "pipe_burst"]
    assert "wrote 10800 readings of 9 assets" in capsys.readouterr().out


@pytest.mark.integration
def test_simulate_to_a_broker(mosquitto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate("demo", "demo", mosquitto.url, speed=20, duration=3, seed=1) == 0
    assert "published 27 readings" in capsys.readouterr().out
