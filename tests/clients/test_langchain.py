"""LangChain against the demo: `langchain-openai`'s ChatOpenAI at {router}/v1 and
`langchain-anthropic`'s ChatAnthropic at {router}, each through a backend of either API: invoke,
stream, a bind_tools round trip, and with_structured_output with a pydantic model that has an
enum, a nested object and a required list. Installed with pip into the test venv."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from tests.clients.conftest import BACKENDS, Demo
from tests.installs import pip_install

PACKAGES = ("langchain-openai>=1.0", "langchain-anthropic>=1.0")


@pytest.fixture(scope="module")
def langchain() -> None:
    error = pip_install(*PACKAGES)
    if error is not None:
        pytest.skip(f"LangChain could not be installed with pip: {error}")
    importlib.invalidate_caches()  # installed while this process runs


def chat_openai(demo: Demo, model: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(base_url=demo.v1, api_key="demo", model=model, max_retries=0,
                      stream_usage=True)


def chat_anthropic(demo: Demo, model: str) -> Any:
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(base_url=demo.url, api_key="demo", model=model, max_retries=0)


CLIENTS: dict[str, Callable[[Demo, str], Any]] = {
    "ChatOpenAI": chat_openai, "ChatAnthropic": chat_anthropic}


@pytest.fixture(params=[(c, b) for c in CLIENTS for b in BACKENDS], ids=lambda p: f"{p[0]}-{p[1]}")
def llm(request: pytest.FixtureRequest, demo: Demo, langchain: None) -> Any:
    client, backend = request.param
    return CLIENTS[client](demo, backend)


def text_of(message: Any) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    # a list of blocks: text blocks (or, merged from a stream, bare strings) and thinking
    return "".join(b if isinstance(b, str) else b.get("text", "") for b in content
                   if isinstance(b, str) or b.get("type") == "text")


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Place(pydantic.BaseModel):
    city: str
    country: str


class Report(pydantic.BaseModel):
    level: Level
    place: Place
    tags: list[str] = pydantic.Field(min_length=1)


def test_invoke_and_stream(llm: Any) -> None:
    answer = llm.invoke("hello there")
    assert text_of(answer).endswith("You said: hello there")
    assert answer.response_metadata.get("model_name") in BACKENDS or \
        answer.response_metadata.get("model") in BACKENDS
    chunks = list(llm.stream("stream this"))
    assert len(chunks) > 3  # token by token
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert text_of(whole).endswith("You said: stream this")
    assert whole.usage_metadata["output_tokens"] > 0


def test_bind_tools_round_trip(llm: Any) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool  # type: ignore[untyped-decorator]  # LangChain is Any to mypy (pyproject)
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny and 21C in {city}"

    bound = llm.bind_tools([get_weather])
    question = HumanMessage("What is the weather in Oslo?")
    asked = bound.invoke([question])
    (call,) = asked.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Oslo"}
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    final = bound.invoke([question, asked, result])
    assert not final.tool_calls and "sunny and 21C in Oslo" in text_of(final)


def test_with_structured_output(llm: Any) -> None:
    report = llm.with_structured_output(Report).invoke("Report the weather level in Rome.")
    assert isinstance(report, Report) and isinstance(report.level, Level)
    assert report.place.city and report.tags
