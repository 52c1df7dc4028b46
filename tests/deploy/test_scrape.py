"""A real Prometheus scrapes a running ``facwatch demo``: the facwatch metrics arrive, the rules load and are
evaluated, the demo's RED entrapment shows as firing, and stopping facwatch raises FacwatchDown. The Grafana
dashboard names only metrics that the running system's ``/metrics`` exports, in PromQL Prometheus accepts.

The tests share one demo and one Prometheus (module scope) and run in file order: the last one stops facwatch.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from tests.deploy.conftest import DASHBOARD, RULES, Demo, Prometheus
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

FROM_PROMETHEUS = {"up"}  # made by Prometheus itself, not by facwatch
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
PROMQL_WORDS |= {"offset", "inf", "nan"}


def dashboard_queries() -> list[str]:
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords or labels."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
        rest = bare[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def exported_names(text: str) -> set[str]:
    """Every sample name ``/metrics`` may carry, including families that have no sample yet."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def test_metric_names_are_read_from_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, channel) (rate(foo_bucket{job="a"}[5m]))) / on (x) bar_total'
    assert metric_names(expr) == {"foo_bucket", "bar_total"}


def test_dashboard_is_well_formed() -> None:
    """What Grafana's import needs: the data source as an input, unique panel ids, panels within 24 columns."""
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_names_only_metrics_that_exist(demo: Demo) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    wanted = set().union(*(metric_names(q) for q in queries)) - FROM_PROMETHEUS
    for family in (
        "alerts_firing",
        "alerts_opened_total",
        "sla_clocks_breached",
        "notifications_failed_total",
    ):
        assert f"facwatch_{family}" in wanted, f"the dashboard shows facwatch_{family}"
    exported = exported_names(demo.metrics())
    missing = sorted(wanted - exported)
    assert not missing, f"the dashboard queries metrics that /metrics does not export: {missing}"


def test_rules_name_only_metrics_that_exist(demo: Demo) -> None:
    exprs = re.findall(r"^\s+expr: (.+)$", RULES.read_text(), flags=re.M)
    assert len(exprs) >= 9
    wanted = set().union(*(metric_names(e) for e in exprs)) - FROM_PROMETHEUS
    missing = sorted(wanted - exported_names(demo.metrics()))
    assert not missing, f"the rules read metrics that /metrics does not export: {missing}"


def test_dashboard_queries_are_accepted_by_prometheus(prometheus: Prometheus) -> None:
    refused = {
        q: a.get("error") for q in dashboard_queries() if (a := prometheus.query(q))["status"] != "success"
    }
    assert not refused, refused


def test_prometheus_scrapes_facwatch_and_evaluates_the_rules(demo: Demo, prometheus: Prometheus) -> None:
    wait_until(lambda: prometheus.values('facwatch_ready{part="state_db"}') == [1.0], 30, "readiness scraped")
    assert prometheus.values('up{job="facwatch"}') == [1.0]
    parts = {s["metric"]["part"] for s in prometheus.query("facwatch_ready")["data"]["result"]}
    assert parts == {"state_db", "broker", "telemetry", "engine", "clocks"}
    assert len(prometheus.values("facwatch_alerts_firing")) == 4  # one per level, zeros included

    expected = set(re.findall(r"- alert: (\w+)", RULES.read_text()))

    def evaluated() -> bool:
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
        return {r["name"] for r in rules} == expected and all(r["health"] == "ok" for r in rules)

    wait_until(evaluated, 30, "every alerting rule loaded and evaluated without error")
    # The demo's scripted entrapment: the RED reaches Prometheus as a firing alert, opened once.
    wait_until(
        lambda: prometheus.values('facwatch_alerts_firing{level="red"}') == [1.0], 90, "the RED firing"
    )
    opened = prometheus.query('facwatch_alerts_opened_total{level="red"}')["data"]["result"]
    assert [s["metric"]["kind"] for s in opened] == ["elevator.entrapment"]
    wait_until(
        lambda: sum(prometheus.values("facwatch_notifications_sent_total")) > 0, 30, "RED notices sent"
    )


def test_stopping_facwatch_raises_facwatch_down(demo: Demo, prometheus: Prometheus) -> None:
    demo.proc.terminate()
    demo.proc.wait(timeout=30)

    def down_alert() -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = prometheus.api("alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "FacwatchDown"]

    wait_until(down_alert, 30, "FacwatchDown pending in Prometheus")
    (alert,) = down_alert()
    assert alert["labels"]["instance"] == demo.target
    assert alert["state"] in ("pending", "firing")
    assert "does not answer /metrics" in alert["annotations"]["summary"]
