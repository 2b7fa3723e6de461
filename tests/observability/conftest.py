"""Fixtures for the observability tests: the Prometheus tools (installed from Debian when
missing, once per session) and the paths of the artefacts under test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.installs import apt_install

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "freerouter.json"
RULES = ROOT / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "prometheus" / "rules_test.yml"
SCRAPE_CONFIG = ROOT / "prometheus" / "prometheus.yml"
README = ROOT / "README.md"

@dataclass(frozen=True, slots=True)
class PromTools:
    promtool: Path
    prometheus: Path


def _find_tools() -> PromTools | None:
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if promtool is None or prometheus is None:
        return None
    return PromTools(Path(promtool), Path(prometheus))


@pytest.fixture(scope="session")
def prom_tools() -> PromTools:
    """promtool and prometheus, from PATH or installed with apt (Debian `prometheus`)."""
    tools = _find_tools()
    if tools is not None:
        return tools
    error = apt_install("prometheus")
    tools = _find_tools()
    if tools is None:
        pytest.skip(f"Prometheus tools missing and `apt-get install prometheus` failed: {error}")
    return tools
