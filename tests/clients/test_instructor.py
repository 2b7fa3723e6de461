"""instructor against the demo, in TOOLS and JSON_SCHEMA modes, to a backend of either API.
instructor pins its dependencies tightly enough (jiter) to pull the test venv's openai back a
major release, so it lives in a venv of its own (tests/installs.venv_install) and runs a script
(instructor_cases.py) there."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import BACKENDS, Demo
from tests.installs import venv_install

REQUIREMENTS = ("instructor>=1.7", "openai>=1.50")
SCRIPT = Path(__file__).with_name("instructor_cases.py")
RUN_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def python() -> Path:
    found, error = venv_install("instructor", REQUIREMENTS)
    if found is None:
        pytest.skip(f"instructor could not be installed with pip: {error}")
    return found


@pytest.fixture(scope="module", params=BACKENDS)
def results(request: pytest.FixtureRequest, demo: Demo, python: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(SCRIPT)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        check=False, env={"PATH": os.environ.get("PATH", ""), "ROUTER_URL": demo.url,
                          "MODEL": request.param})
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("mode", ["TOOLS", "JSON_SCHEMA"])
def test_instructor_parses_the_model(results: dict[str, Any], mode: str) -> None:
    got = results[mode]
    assert "error" not in got, got
    report = got["report"]
    assert report["level"] in ("low", "high")
    assert report["place"]["city"] == "Rome" or report["place"]["city"]
    assert report["tags"]
