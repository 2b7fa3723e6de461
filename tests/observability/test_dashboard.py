"""Static checks of the Grafana dashboard, its provisioning files, and the metric names the
dashboard and the alert rules use against the ones the code registers and the README documents.

The README's metrics table has one row per metric, as in INTERFACE.md: the exposed name (counters
with `_total`, histograms by their base name), the type, the comma-separated labels, then any
further columns; backticks around the cells are optional:

    | metric | type | labels | meaning |
    |---|---|---|---|
    | `freerouter_requests_total` | counter | api, route, status | client requests answered |
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import promql
from .conftest import DASHBOARD, README, ROOT, RULES

DASHBOARD_UID = "freerouter-overview"
INTERFACE = ROOT.parent / "shared" / "INTERFACE.md"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# The RED rows the issue asks for, plus the backend health row.
REQUIRED_ROWS = ("Traffic", "Errors", "Latency", "Backend health", "State store")
# What operators must find on the dashboard: each family appears in at least one panel.
REQUIRED_FAMILIES = (
    "freerouter_requests_total", "freerouter_request_duration_seconds_bucket",
    "freerouter_selections_total", "freerouter_backend_failures_total",
    "freerouter_fallbacks_total", "freerouter_upstream_latency_seconds_bucket",
    "freerouter_time_to_first_token_seconds_bucket", "freerouter_backend_health_score",
    "freerouter_backend_up", "freerouter_probes_total", "freerouter_tokens_total",
    "freerouter_inflight_requests", "freerouter_budget_remaining", "freerouter_state_store_up",
    "freerouter_state_store_errors_total",
)
RANGE = re.compile(r"\[([^\]]*)\]")
# Families with no labels at all, by design (INTERFACE.md: "(none)").
LABEL_FREE = frozenset({"freerouter_state_store_up"})


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return promql.load_dashboard(DASHBOARD)


@pytest.fixture(scope="module")
def families() -> dict[str, promql.Family]:
    return promql.code_families()


def all_queries(dashboard: dict[str, Any]) -> list[promql.Query]:
    return promql.dashboard_queries(dashboard) + promql.alert_queries(RULES)


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == DASHBOARD_UID
    # A committed numeric id collides with whatever the target Grafana already holds.
    assert dashboard["id"] is None
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["title"]


def test_datasource_is_a_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


def test_every_panel_has_unit_datasource_and_description(dashboard: dict[str, Any]) -> None:
    for panel in promql.panels(dashboard):
        title = panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        assert panel["datasource"] == DATASOURCE, title
        assert panel.get("description"), f"{title}: no description"
        assert panel["targets"], f"{title}: no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, title
            assert target["expr"].strip(), title


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_rows_cover_red_and_health(dashboard: dict[str, Any]) -> None:
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    for wanted in REQUIRED_ROWS:
        assert any(row.startswith(wanted) for row in rows), f"no {wanted!r} row in {rows}"


def test_every_range_uses_rate_interval(dashboard: dict[str, Any]) -> None:
    for query in promql.dashboard_queries(dashboard):
        for window in RANGE.findall(query.expr):
            assert window == "$__rate_interval", f"{query.where}: fixed window [{window}]"


def test_dashboard_shows_every_family(dashboard: dict[str, Any]) -> None:
    used = set().union(*(promql.metric_names(q.expr) for q in promql.dashboard_queries(dashboard)))
    missing = [name for name in REQUIRED_FAMILIES if name not in used]
    assert not missing


def test_queries_use_only_allowed_series(dashboard: dict[str, Any]) -> None:
    allowed = re.compile(r"^(freerouter_\w+|up|process_\w+|python_\w+)$")
    for query in all_queries(dashboard):
        for name in promql.metric_names(query.expr):
            assert allowed.match(name), f"{query.where}: {name} is outside the contract"


def test_queries_use_metrics_the_code_exposes(
    dashboard: dict[str, Any], families: dict[str, promql.Family]
) -> None:
    exposed = promql.exposed_series(families)
    for query in all_queries(dashboard):
        names = promql.metric_names(query.expr)
        assert names, f"{query.where}: no metric found in {query.expr}"
        unknown = names - exposed.keys() - promql.SCRAPE_SERIES
        assert not unknown, f"{query.where}: not in router.metrics: {sorted(unknown)}"


def test_queries_use_labels_the_metrics_have(
    dashboard: dict[str, Any], families: dict[str, promql.Family]
) -> None:
    exposed = promql.exposed_series(families)
    for query in all_queries(dashboard):
        known = set(promql.TARGET_LABELS) | {promql.BUCKET_LABEL}
        for name in promql.metric_names(query.expr) & exposed.keys():
            known |= exposed[name].labels
        assert promql.grouping_labels(query.expr) <= known, query.where
        for metric, labels in promql.matcher_labels(query.expr).items():
            own = exposed[metric].labels if metric in exposed else frozenset()
            extra = labels - own - promql.TARGET_LABELS
            assert not extra, f"{query.where}: {metric} has no label {sorted(extra)}"


def test_variables_query_existing_labels(
    dashboard: dict[str, Any], families: dict[str, promql.Family]
) -> None:
    exposed = promql.exposed_series(families)
    for variable in promql.variable_queries(dashboard):
        assert variable.metric in exposed, variable.variable
        labels = exposed[variable.metric].labels | promql.TARGET_LABELS
        assert variable.label in labels, variable.variable


def test_every_family_is_driven(families: dict[str, promql.Family]) -> None:
    # promql.drive_every_event must touch every metric, or label checks would skip it silently.
    unlabelled = [family.name for family in families.values()
                  if not family.labels and family.name not in LABEL_FREE]
    assert not unlabelled, f"extend promql.drive_every_event for {unlabelled}"


@pytest.mark.parametrize("document", [README, INTERFACE], ids=["README", "INTERFACE"])
def test_metrics_tables_match_the_code(
    document: Path, families: dict[str, promql.Family]
) -> None:
    if document == INTERFACE and not document.exists():
        pytest.skip("../shared/INTERFACE.md is not beside this checkout")
    assert document.exists(), f"{document.name} must hold the metrics table (format: module doc)"
    table = promql.documented_metrics(document.read_text(encoding="utf-8"))
    code = {family.documented_name: family for family in families.values()}
    if document == README:
        undocumented = sorted(code.keys() - table.keys())
        assert not undocumented, f"missing from the README metrics table: {undocumented}"
    for name, row in table.items():
        assert name in code, f"{document.name} documents {name}, which the code lacks"
        assert row.type == code[name].type, name
        assert row.labels == code[name].labels, name


def test_provisioning_files() -> None:
    provisioning = ROOT / "grafana" / "provisioning"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "freerouter.yml").read_text())
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["apiVersion"] == 1
    assert [ds["type"] for ds in datasources["datasources"]] == ["prometheus"]
