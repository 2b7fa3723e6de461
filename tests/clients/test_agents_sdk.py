"""The OpenAI Agents SDK (`openai-agents`) with its default model, the Responses API, against
the demo, to a backend of either API: an agent with a function tool run to its final output
(the SDK runs the tool and sends its result back), the same run streamed, and an agent whose
output type is a pydantic model (text.format json_schema). The SDK pulls in an MCP server stack
(starlette, uvicorn, websockets...) the test venv has no use for and that could move its pins,
so it lives in a venv of its own (tests/installs.venv_install) and runs a script
(agents_cases.py) there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import BACKENDS, Demo, ok, own_venv, run_cases

REQUIREMENTS = ("openai-agents>=0.3",)
SCRIPT = Path(__file__).with_name("agents_cases.py")


@pytest.fixture(scope="module")
def python() -> Path:
    return own_venv("openai-agents", REQUIREMENTS)


@pytest.fixture(scope="module", params=BACKENDS)
def results(request: pytest.FixtureRequest, demo: Demo, python: Path) -> dict[str, Any]:
    return run_cases(python, SCRIPT, demo, request.param, env={"OPENAI_AGENTS_DISABLE_TRACING": "1"})


def test_an_agent_runs_its_tool_to_a_final_output(results: dict[str, Any]) -> None:
    got = ok(results, "run")
    assert got["called"] == ["Oslo"]
    assert "sunny and 21C in Oslo" in got["final"]
    assert got["items"] == ["tool_call_item", "tool_call_output_item", "message_output_item"]


def test_a_streamed_run(results: dict[str, Any]) -> None:
    got = ok(results, "streamed")
    assert got["called"] == ["Lima"] and "sunny and 21C in Lima" in got["final"]
    assert "raw_response_event" in got["events"] and "run_item_stream_event" in got["events"]


def test_a_structured_output(results: dict[str, Any]) -> None:
    got = ok(results, "structured")
    assert got["final"]["city"] and isinstance(got["final"]["days"], int)
