"""InfluxQL text builders and answer parsing (pure): quoting, windows, the 1-minute copy, errors."""

from __future__ import annotations

import pytest

from facwatch.model import TelemetryQuery
from ingest.influxql import (
    InfluxQLError,
    Layout,
    Source,
    alter_policy,
    backfill,
    field_names,
    history,
    history_from_minutes,
    ident,
    latest,
    literal,
    setup_statements,
    statement_rows,
)

RAW = Source("plant", None, "elevator")
MINUTES = Source("plant", "facwatch_1m", "elevator")
WHERE = "WHERE \"site\" = 's' AND \"asset\" = 'a' AND time >= 0ms AND time < 600000ms"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ident('we"ird\\name'), '"we\\"ird\\\\name"'),  # a quote in an identifier cannot end it
        (literal("o'clock\\"), "'o\\'clock\\\\'"),  # nor one in a string literal
        (RAW.text(), '"plant".."elevator"'),  # no policy: the database's default
        (MINUTES.text(), '"plant"."facwatch_1m"."elevator"'),
    ],
)
def test_quoting(text: str, expected: str) -> None:
    assert text == expected


@pytest.mark.parametrize(
    ("every", "fn", "expected"),
    [
        (None, "mean", f'SELECT "floor" FROM "plant".."elevator" {WHERE}'),  # raw points
        (
            60_000,
            "max",
            f'SELECT max("floor") FROM "plant".."elevator" {WHERE} GROUP BY time(60000ms) fill(none)',
        ),
    ],
)
def test_history_of_the_raw_data(every: int | None, fn: str, expected: str) -> None:
    assert history(RAW, TelemetryQuery("s", "a", "floor", 0, 600_000, every, fn)) == expected


@pytest.mark.parametrize(
    ("every", "fn", "select", "grouped"),
    [
        (None, "mean", '"mean_floor"', False),  # raw past the age: each minute's mean
        (120_000, "mean", 'sum("sum_floor") / sum("count_floor")', True),  # exact, not a mean of means
        (120_000, "count", 'sum("count_floor")', True),
        (120_000, "min", 'min("min_floor")', True),
        (120_000, "last", 'last("last_floor")', True),
        (10_000, "max", '"max_floor"', False),  # finer than a minute: each minute's max
        (90_000, "sum", '"sum_floor"', False),  # not whole minutes: each minute's sum
    ],
)
def test_history_from_the_minutes(every: int | None, fn: str, select: str, grouped: bool) -> None:
    text = history_from_minutes(MINUTES, TelemetryQuery("s", "a", "floor", 0, 600_000, every, fn))
    group = f" GROUP BY time({every}ms) fill(none)" if grouped else ""
    assert text == f'SELECT {select} FROM "plant"."facwatch_1m"."elevator" {WHERE}{group}'


def test_latest_asks_each_field_on_its_own() -> None:
    text = latest(RAW, "s", "a", ["floor", "load_kg"], 5)
    assert text.count("SELECT last(") == 2 and '"load_kg"' in text and "time >= 5ms" in text


def test_setup_and_backfill_statements() -> None:
    layout = Layout("plant", "facwatch_raw", 30, "facwatch_1m", 730)
    create_db, raw, minutes, drop, cq = setup_statements(layout)
    assert minutes.endswith("DURATION 1051200m REPLICATION 1")  # not the default
    assert create_db == 'CREATE DATABASE "plant"'
    assert raw.endswith("DURATION 43200m REPLICATION 1 DEFAULT")
    assert alter_policy(raw) == raw.replace("CREATE", "ALTER", 1)
    assert alter_policy(cq) is None
    assert drop == 'DROP CONTINUOUS QUERY "facwatch_1m_cq" ON "plant"'
    assert 'INTO "plant"."facwatch_1m".:MEASUREMENT FROM "plant"."facwatch_raw"./.*/' in cq
    assert "RESAMPLE EVERY 1m FOR 3600s" in cq and cq.endswith("GROUP BY time(1m), * END")
    assert backfill(layout, 0, 60_000).endswith("WHERE time >= 0ms AND time < 60000ms GROUP BY time(1m), *")


def test_answers_are_parsed_and_errors_carry_the_servers_words() -> None:
    ok = {"results": [{"series": [{"values": [[1, 2], [3, None]]}]}, {}]}
    assert statement_rows(ok) == [[(1, 2.0)], []]  # nulls left out, an empty statement is empty
    keys = {"results": [{"series": [{"values": [["floor", "float"], ["note", "string"], ["n", "integer"]]}]}]}
    assert field_names(keys) == ["floor", "n"]
    with pytest.raises(InfluxQLError, match="database not found: plant"):
        statement_rows({"results": [{"statement_id": 0, "error": "database not found: plant"}]})
    with pytest.raises(InfluxQLError, match="error parsing query"):
        field_names({"error": "error parsing query: found EOF"})
