"""``facwatch simulate``'s work: files with --out, a broker without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.cli import simulate, simulate_load


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


@pytest.mark.parametrize("progress", [True, False])  # both values of the option
def test_a_progress_bar_of_simulated_time_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], progress: bool
) -> None:
    assert (
        simulate("demo", "quiet", "mqtt://unused:1883", duration=7200, out=tmp_path, progress=progress) == 0
    )
    err = capsys.readouterr().err
    if progress:
        assert "100.0 %" in err and "2.0 h of 2.0 h simulated" in err
    else:
        assert "simulated" not in err


def test_every_fault_of_the_shipped_library_reaches_the_labels(tmp_path: Path) -> None:
    """The files of a shipped scenario: labels with the contract's fields, data that shows the faults."""
    assert simulate("demo", "sensors", "mqtt://unused:1883", duration=86_400, seed=2, out=tmp_path) == 0
    labels = [orjson.loads(x) for x in (tmp_path / "labels.jsonl").read_bytes().splitlines()]
    assert {x["kind"] for x in labels} == {"stuck", "drift", "dropout"}
    for label in labels:
        assert {"asset", "kind", "onset", "end", "finding", "level", "channel", "limit_at"} <= set(label)
        assert label["level"] == "blue" and label["finding"] == f"sensor.{label['kind']}"
    dropout = next(x for x in labels if x["kind"] == "dropout")
    rows = (tmp_path / f"{dropout['asset']}.csv").read_text().splitlines()
    column = rows[0].split(",").index(dropout["channel"])
    cells = [r.split(",") for r in rows[1:]]
    empty = [int(c[0]) for c in cells if c[column] == ""]
    assert empty and min(empty) == dropout["onset_ms"] and max(empty) == dropout["end_ms"] - 1000


@pytest.mark.integration
def test_load_mode_from_the_command_line(mosquitto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from facwatch.cli import _parser

    argv = ["simulate", "--load", "--assets", "12", "--rate", "2", "--batch", "2", "--processes", "2",
            "--duration", "1", "--broker", mosquitto.url, "--qos", "0"]  # fmt: skip
    args = _parser().parse_args(argv)
    code = simulate_load(
        args.broker, assets=args.assets, rate=args.rate, processes=args.processes, batch=args.batch,
        qos=args.qos, duration=args.duration, site_id=args.site_id,
    )  # fmt: skip
    assert code == 0
    report = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["readings"], report["messages"], report["qos"], report["site_id"]) == (24, 12, 0, "load")
    assert report["per_asset"]["load-00011"] == [0, 1]


def test_a_speed_of_zero_is_a_clear_error() -> None:
    from facwatch.errors import ConfigError

    with pytest.raises(ConfigError, match="speed must be positive"):
        simulate("demo", "demo", "mqtt://127.0.0.1:1", speed=0, duration=1)
