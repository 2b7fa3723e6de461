"""Fixtures for the observability tests: the Prometheus tools (installed from Debian when
missing, once per session) and the paths of the artefacts under test."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "freerouter.json"
RULES = ROOT / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "prometheus" / "rules_test.yml"
SCRAPE_CONFIG = ROOT / "prometheus" / "prometheus.yml"
README = ROOT / "README.md"

# Bounds each apt step, lock waits included; a few minutes is plenty on a CI runner.
APT_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class PromTools:
    promtool: Path
    prometheus: Path


def _find_tools() -> PromTools | None:
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if promtool is None or prometheus is None:
        return None
    return PromTools(Path(promtool), Path(prometheus))


def _apt_install() -> str | None:
    """Install Debian's prometheus package (server + promtool); the error text on failure."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    steps = (
        ["apt-get", "update"],
        # Another job's apt may hold the dpkg lock; wait for it rather than fail.
        ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300",
         "prometheus"],
    )
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False,
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(step)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(step)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def prom_tools() -> PromTools:
    """promtool and prometheus, from PATH or installed with apt (Debian `prometheus`)."""
    tools = _find_tools()
    if tools is not None:
        return tools
    error = _apt_install()
    tools = _find_tools()
    if tools is None:
        pytest.skip(f"Prometheus tools missing and `apt-get install prometheus` failed: {error}")
    return tools
