"""The alert rules and the example Prometheus configuration, checked and unit-tested by promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from . import promql
from .conftest import RULES, RULES_TEST, SCRAPE_CONFIG, PromTools

# The alerts the issue asks for, by the name operators will route on.
REQUIRED_ALERTS = frozenset({
    "FreerouterBackendDown", "FreerouterRouteWithoutHealthyBackend", "FreerouterHighErrorRatio",
    "FreerouterFallbackStorm", "FreerouterStateStoreDown",
})


def promtool(tools: PromTools, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [("check", "rules", RULES.name), ("test", "rules", RULES_TEST.name),
     ("check", "config", SCRAPE_CONFIG.name)],
    ids=["check-rules", "test-rules", "check-config"],
)
def test_promtool(prom_tools: PromTools, args: tuple[str, ...]) -> None:
    done = promtool(prom_tools, *args, cwd=RULES.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_required_alerts_exist() -> None:
    names = {query.where.removeprefix("alert ") for query in promql.alert_queries(RULES)}
    assert names >= REQUIRED_ALERTS


def test_every_alert_has_a_signal_and_threshold() -> None:
    # The live test checks each alert's signal returns data, which needs this shape.
    for query in promql.alert_queries(RULES):
        assert promql.alert_signal(query.expr) != query.expr.strip(), query.where


def test_every_alert_is_tested() -> None:
    tested = RULES_TEST.read_text(encoding="utf-8")
    for query in promql.alert_queries(RULES):
        name = query.where.removeprefix("alert ")
        assert f"alertname: {name}" in tested, f"{name} has no promtool test case"


def test_promtool_test_fails_on_a_wrong_expectation(prom_tools: PromTools, tmp_path: Path) -> None:
    # Guards the test-rules case above: a rules test that expects silence where an alert fires
    # must fail, so a passing run means the expectations were checked.
    (tmp_path / RULES.name).write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    broken = RULES_TEST.read_text(encoding="utf-8").replace(
        "eval_time: 6m\n        alertname: FreerouterBackendDown",
        "eval_time: 6m\n        alertname: FreerouterBackendDown\n        exp_alerts: []\n"
        "      - eval_time: 7m\n        alertname: FreerouterBackendDown",
    )
    assert broken != RULES_TEST.read_text(encoding="utf-8")
    (tmp_path / RULES_TEST.name).write_text(broken, encoding="utf-8")
    done = promtool(prom_tools, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "FreerouterBackendDown" in done.stdout + done.stderr
