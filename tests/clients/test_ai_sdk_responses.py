"""The Vercel AI SDK's default OpenAI provider (`openai(id)`, the Responses API) against the
demo, to a backend of either API: generateText, streamText, a tool round trip streamed and not
(the SDK runs the tool and sends its result back), generateObject with a zod schema, and a
follow-up turn in which the SDK's default `store: true` makes it send an `item_reference` for
its earlier answer instead of the answer itself. One Node run per backend does every call
(ai_sdk_responses_cases.mjs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import BACKENDS, Demo, ok
from tests.clients.node import npm_folder, run_node

PACKAGES = ("ai", "@ai-sdk/openai", "zod")  # in the shared AI SDK folder
SCRIPT = Path(__file__).with_name("ai_sdk_responses_cases.mjs")


@pytest.fixture(scope="module", params=BACKENDS)
def results(request: pytest.FixtureRequest, demo: Demo) -> dict[str, Any]:
    folder = npm_folder("ai-sdk", PACKAGES)
    found: dict[str, Any] = run_node(folder, SCRIPT, demo.url, {"MODEL": request.param})
    return found


def test_it_speaks_the_responses_api(results: dict[str, Any]) -> None:
    assert results["paths"] == ["/v1/responses"]


def test_generate_text(results: dict[str, Any]) -> None:
    got = ok(results, "generateText")
    assert got["text"].endswith("You said: hello there") and got["finishReason"] == "stop"
    assert got["modelId"] in BACKENDS and got["id"].startswith("resp_")
    assert got["usage"]["inputTokens"] > 0 and got["usage"]["outputTokens"] > 0


def test_a_follow_up_references_the_stored_answer(results: dict[str, Any]) -> None:
    got = ok(results, "followUp")
    assert got["text"].endswith("You said: and once more")
    (sent,) = got["input"]
    assert [item.get("type") for item in sent].count("item_reference") == 1


def test_stream_text(results: dict[str, Any]) -> None:
    got = ok(results, "streamText")
    assert len(got["parts"]) > 3 and "".join(got["parts"]) == got["text"]
    assert got["text"].endswith("You said: stream this") and got["finishReason"] == "stop"
    assert got["usage"]["outputTokens"] > 0


def test_tool_round_trip(results: dict[str, Any]) -> None:
    got = ok(results, "tools")
    assert got["calls"] == [{"name": "weather", "input": {"city": "Oslo"}}]
    assert got["results"] == ["sunny and 21C in Oslo"]
    assert "sunny and 21C in Oslo" in got["text"] and got["steps"] == 2


def test_streamed_tool_round_trip(results: dict[str, Any]) -> None:
    got = ok(results, "streamTools")
    assert "sunny and 21C in Lima" in got["text"] and got["steps"] == 2
    assert {"tool-input-start", "tool-call", "tool-result", "text-delta"} <= set(got["kinds"])


def test_generate_object(results: dict[str, Any]) -> None:
    got = ok(results, "generateObject")
    assert got["object"]["level"] in ("low", "high") and got["object"]["tags"]
