"""instructor against the demo, in TOOLS and JSON_SCHEMA modes, to a backend of either API.
instructor pins its dependencies tightly enough (jiter) to pull the test venv's openai back a
major release, so it lives in a venv of its own (tests/installs.venv_install) and runs a script
(instructor_cases.py) there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import BACKENDS, Demo, ok, own_venv, run_cases

REQUIREMENTS = ("instructor>=1.7", "openai>=1.50")
SCRIPT = Path(__file__).with_name("instructor_cases.py")


@pytest.fixture(scope="module")
def python() -> Path:
    return own_venv("instructor", REQUIREMENTS)


@pytest.fixture(scope="module", params=BACKENDS)
def results(request: pytest.FixtureRequest, demo: Demo, python: Path) -> dict[str, Any]:
    return run_cases(python, SCRIPT, demo, request.param)


@pytest.mark.parametrize("mode", ["TOOLS", "JSON_SCHEMA"])
def test_instructor_parses_the_model(results: dict[str, Any], mode: str) -> None:
    got = ok(results, mode)
    report = got["report"]
    assert report["level"] in ("low", "high")
    assert report["place"]["city"] == "Rome" or report["place"]["city"]
    assert report["tags"]
