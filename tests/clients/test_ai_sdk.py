"""The Vercel AI SDK against the demo, through `@ai-sdk/openai`'s chat model,
`@ai-sdk/openai-compatible` and `@ai-sdk/anthropic`, each to a backend of either API:
generateText, streamText, a tool round trip (the SDK runs the tool and sends its result back),
and generateObject with a zod schema (an enum, a nested object, a required non-empty array).
One Node run per provider and backend does all four calls (ai_sdk_cases.mjs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import BACKENDS, Demo, ok
from tests.clients.node import npm_folder, run_node

# The shared AI SDK folder (the Responses API tests add theirs to it).
PACKAGES = ("ai", "@ai-sdk/openai", "@ai-sdk/openai-compatible", "@ai-sdk/anthropic", "zod")
SCRIPT = Path(__file__).with_name("ai_sdk_cases.mjs")
PROVIDERS = ("openai", "openai-compatible", "anthropic")


@pytest.fixture(scope="module")
def ai_sdk() -> Path:
    return npm_folder("ai-sdk", PACKAGES)


@pytest.fixture(scope="module", params=[(p, b) for p in PROVIDERS for b in BACKENDS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def results(request: pytest.FixtureRequest, demo: Demo, ai_sdk: Path) -> dict[str, Any]:
    provider, backend = request.param
    found: dict[str, Any] = run_node(ai_sdk, SCRIPT, demo.url,
                                     {"PROVIDER": provider, "MODEL": backend})
    return found


def test_generate_text(results: dict[str, Any]) -> None:
    got = ok(results, "generateText")
    assert got["text"].endswith("You said: hello there") and got["finishReason"] == "stop"
    assert got["modelId"] in BACKENDS
    assert got["usage"]["inputTokens"] > 0 and got["usage"]["outputTokens"] > 0


def test_stream_text(results: dict[str, Any]) -> None:
    got = ok(results, "streamText")
    assert len(got["parts"]) > 3 and "".join(got["parts"]) == got["text"]
    assert got["text"].endswith("You said: stream this")
    assert got["usage"]["outputTokens"] > 0


def test_tool_round_trip(results: dict[str, Any]) -> None:
    got = ok(results, "tools")
    assert got["calls"] == [{"name": "weather", "input": {"city": "Oslo"}}]
    assert got["results"] == ["sunny and 21C in Oslo"]
    assert "sunny and 21C in Oslo" in got["text"] and got["steps"] == 2


def test_generate_object(results: dict[str, Any]) -> None:
    got = ok(results, "generateObject")
    report = got["object"]
    assert report["level"] in ("low", "high")
    assert report["place"]["city"] and report["place"]["country"] and report["tags"]
