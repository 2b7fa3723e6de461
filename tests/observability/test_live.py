"""The dashboard and the alert rules against a real Prometheus scraping a real router.

`python -m router demo` serves `free` over simulated backends (one flaky); a Debian Prometheus on
loopback scrapes it every second while fake traffic with failures, fallbacks, a 404 and a 400
runs through it. Then every PromQL expression of the dashboard and of the alert rules goes
through Prometheus' /api/v1/query: each must parse and return at least one finite value.

No expression needs an exemption: ratio panels fall back to `... * 0` where no failure happened,
so they read 0 rather than nothing, and the traffic runs until every kind of event (a probe too)
is on /metrics. An alert's whole expression has data only while it fires, which the demo must
not cause, so it is only parsed; its signal (the part before the threshold) must have data."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from . import live, promql, traffic
from .conftest import DASHBOARD, ROOT, RULES, PromTools

pytestmark = pytest.mark.slow

ROUTER_ARGV = (sys.executable, "-m", "router", "demo")
SCRAPE_INTERVAL = "1s"
STARTUP_TIMEOUT_S = 60
# Scrapes and rule evaluations to wait for once the traffic is over, so every rate() window
# holds the traffic and the alert rules have seen it.
SCRAPES_AFTER_TRAFFIC = 2
# Scrapes the traffic must span: a series' first scrape is its baseline, later ones its rate.
SCRAPES_DURING_TRAFFIC = 4

DASHBOARD_QUERIES = promql.dashboard_queries(promql.load_dashboard(DASHBOARD))
VARIABLE_QUERIES = promql.variable_queries(promql.load_dashboard(DASHBOARD))
ALERT_QUERIES = promql.alert_queries(RULES)


@dataclass(frozen=True, slots=True)
class LiveStack:
    router_url: str
    prometheus: live.Prometheus
    exposition: str
    report: traffic.TrafficReport


def _without_secrets(name: str) -> bool:
    # The demo adds any catalog provider whose key is set; this test wants the simulated
    # backends only (no network), and no client keys.
    return name.endswith(("_API_KEY", "_KEY", "_TOKEN")) or name.startswith("FREEROUTER_")


def _scrapes(prometheus: live.Prometheus) -> float | None:
    return prometheus.scalar('count_over_time(up{job="freerouter"}[10m])')


def _rules_evaluated_after(prometheus: live.Prometheus, moment: str) -> bool | None:
    groups = prometheus.api("rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return True if rules and all(r["lastEvaluation"] > moment for r in rules) else None


@pytest.fixture(scope="module")
def stack(prom_tools: PromTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    workdir = tmp_path_factory.mktemp("observability-live")
    router_port, prom_port = live.free_port(), live.free_port()
    router = live.Process("router", [*ROUTER_ARGV, "--port", str(router_port)],
                          workdir / "router.log", env=live.child_env(_without_secrets), cwd=ROOT)
    config = live.write_prometheus_config(workdir, f"127.0.0.1:{router_port}", RULES,
                                          SCRAPE_INTERVAL)
    prometheus_proc = live.prometheus_process(prom_tools.prometheus, config, workdir / "data",
                                              prom_port, workdir / "prometheus.log")
    router_url = f"http://127.0.0.1:{router_port}"
    prometheus = live.Prometheus(f"http://127.0.0.1:{prom_port}")
    processes = (router, prometheus_proc)
    try:
        router.start()
        live.wait_for("the router's /readyz", live.answers(f"{router_url}/readyz"),
                      STARTUP_TIMEOUT_S, [router])
        prometheus_proc.start()
        live.wait_for("Prometheus to be ready", live.answers(f"{prometheus.url}/-/ready"),
                      STARTUP_TIMEOUT_S, processes)
        live.wait_for("a first successful scrape",
                      lambda: prometheus.scalar('up{job="freerouter"}') or None,
                      STARTUP_TIMEOUT_S, processes)

        baseline = _scrapes(prometheus) or 0.0
        report = asyncio.run(traffic.drive(
            router_url,
            lambda: (_scrapes(prometheus) or 0.0) >= baseline + SCRAPES_DURING_TRAFFIC,
        ))

        after = live.wait_for("Prometheus' clock", lambda: prometheus.scalar("vector(time())"),
                              STARTUP_TIMEOUT_S, processes)
        scraped = _scrapes(prometheus) or 0.0
        live.wait_for(f"{SCRAPES_AFTER_TRAFFIC} scrapes after the traffic",
                      lambda: (_scrapes(prometheus) or 0.0) >= scraped + SCRAPES_AFTER_TRAFFIC
                      or None, STARTUP_TIMEOUT_S, processes)
        moment = _iso(after)
        live.wait_for("the alert rules to evaluate the traffic",
                      lambda: _rules_evaluated_after(prometheus, moment),
                      STARTUP_TIMEOUT_S, processes)
        status, body = live.http_get(f"{router_url}/metrics")
        assert status == 200
        yield LiveStack(router_url, prometheus, body.decode(), report)
    finally:
        for process in processes:
            process.stop()


def _iso(epoch: float) -> str:
    # Prometheus reports lastEvaluation as RFC 3339 in UTC; these compare as strings.
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _ids(queries: list[promql.Query]) -> list[str]:
    return [query.where for query in queries]


def test_traffic_produced_every_event(stack: LiveStack) -> None:
    # Checked here rather than in the fixture so each query below still reports on its own.
    assert not stack.report.missing, f"the demo traffic never produced {stack.report.missing}"
    assert stack.report.statuses.keys() >= {200, 400, 404}, stack.report


@pytest.mark.parametrize("query", DASHBOARD_QUERIES, ids=_ids(DASHBOARD_QUERIES))
def test_dashboard_query_returns_data(stack: LiveStack, query: promql.Query) -> None:
    answer = stack.prometheus.query(promql.resolve_variables(query.expr))
    assert answer["status"] == "success", f"{query.where}: {answer.get('error')}"
    assert live.finite_values(answer), f"{query.where}: no data for {query.expr}"


@pytest.mark.parametrize("query", ALERT_QUERIES, ids=_ids(ALERT_QUERIES))
def test_alert_rule_parses_and_its_signal_has_data(stack: LiveStack, query: promql.Query) -> None:
    # The full expression only has data while the alert's condition holds, which healthy demo
    # traffic must not cause; its signal (the expression before the threshold) always has.
    whole = stack.prometheus.query(query.expr)
    assert whole["status"] == "success", f"{query.where}: {whole.get('error')}"
    signal = stack.prometheus.query(promql.alert_signal(query.expr))
    assert live.finite_values(signal), f"{query.where}: its signal has no data"


def test_alert_rules_evaluate_cleanly(stack: LiveStack) -> None:
    groups = stack.prometheus.api("rules")["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(rules) == {query.where.removeprefix("alert ") for query in ALERT_QUERIES}
    for name, rule in rules.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"


@pytest.mark.parametrize("variable", VARIABLE_QUERIES, ids=[v.variable for v in VARIABLE_QUERIES])
def test_dashboard_variable_has_values(
    stack: LiveStack, variable: promql.LabelValuesQuery
) -> None:
    selector = promql.resolve_variables(variable.metric + variable.matchers)
    answer = stack.prometheus.api(f"label/{variable.label}/values", **{"match[]": selector})
    assert answer["status"] == "success", answer.get("error")
    assert answer["data"], f"${variable.variable}: no values of {variable.label} on {selector}"


def test_scrape_is_healthy(stack: LiveStack) -> None:
    targets = stack.prometheus.api("targets")["data"]["activeTargets"]
    assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]


def test_promtool_check_metrics(stack: LiveStack, prom_tools: PromTools) -> None:
    done = subprocess.run(
        [str(prom_tools.promtool), "check", "metrics"], input=stack.exposition,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_code_metric_was_scraped(stack: LiveStack) -> None:
    # Each family the code registers has a series in Prometheus after the demo traffic.
    for family in promql.code_families().values():
        for series in family.series:
            answer = stack.prometheus.query(f'count({series}{{job="freerouter"}})')
            assert answer["data"]["result"], f"{series} was never scraped"

