"""The simulated model's answers: tool calls whose arguments fit the tool's schema, the tool the
user asked for, structured outputs, thinking, images, token counts that are exactly what the
answer holds, and answers cut at the request's output bound."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.demo.replies import Ask, Tool, ToolMode, compose
from router.demo.tokenizer import count, grouped, pieces
from tests.demo.test_schema_instance import assert_valid, documents

WEATHER = Tool("get_weather", {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]})
TIME = Tool("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}})


def as_parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """Any generated schema as a tool's parameters object (its $defs stay at the root)."""
    inner = {k: v for k, v in schema.items() if k != "$defs"}
    return {"type": "object", "properties": {"value": inner}, "required": ["value"],
            "$defs": schema.get("$defs", {})}


def ask(said: str = "hi", **fields: Any) -> Ask:
    return Ask(model="m", said=said, prompt_tokens=count([said]), **fields)


@settings(max_examples=80, deadline=None)
@given(documents().map(as_parameters), st.sampled_from(
    [ToolMode.REQUIRED, ToolMode.NAMED]))
def test_forced_tool_calls_have_arguments_that_fit_the_schema(schema: dict[str, Any],
                                                              mode: ToolMode) -> None:
    reply = compose(ask("do it", tools=(Tool("act", schema),), tool_mode=mode, named_tool="act"),
                    "1")
    (call,) = reply.calls
    assert_valid(schema, call.arguments)
    assert orjson.loads("".join(call.argument_pieces)) == call.arguments
    assert reply.text == ()


def test_auto_calls_the_tool_the_user_asks_for_and_only_then() -> None:
    tools = (WEATHER, TIME)
    (call,) = compose(ask("What's the weather in Oslo?", tools=tools), "1").calls
    assert call.name == "get_weather" and call.arguments == {"city": "Oslo"}
    (call,) = compose(ask("not the weather: what time is it?", tools=tools), "1").calls
    assert call.name == "get_time"  # the one named last
    assert compose(ask("hello there", tools=tools), "1").calls == ()
    assert [c.name for c in compose(ask("both in parallel", tools=tools), "1").calls] == [
        "get_weather", "get_time"]
    assert len(compose(ask("both in parallel", tools=tools, parallel=False), "1").calls) <= 1
    assert compose(ask("weather?", tools=tools, tool_mode=ToolMode.NONE), "1").calls == ()
    answered = compose(ask("weather?", tools=tools, tool_results=("sunny",)), "1")
    assert answered.calls == () and answered.content == "The tool said: sunny"


def test_scripted_inputs_win() -> None:
    (call,) = compose(ask("weather", tools=(WEATHER,)), "1", {"get_weather": {"city": "Rome"}}).calls
    assert call.arguments == {"city": "Rome"}


def test_structured_outputs_are_json_instances() -> None:
    schema = {"type": "object", "properties": {"level": {"enum": ["low", "high"]}},
              "required": ["level"], "additionalProperties": False}
    reply = compose(ask(schema=schema), "1")
    assert_valid(schema, orjson.loads(reply.content))
    # json_object: a schema the client put in the prompt is followed; else still an object
    prompted = compose(ask(json_mode=True, prompt_text=f"Answer as {orjson.dumps(schema).decode()}"),
                       "1")
    assert_valid(schema, orjson.loads(prompted.content))
    assert isinstance(orjson.loads(compose(ask(json_mode=True), "1").content), dict)


def test_thinking_images_and_counts() -> None:
    reply = compose(ask("look at this", images=2, reason=True), "1")
    assert reply.thought.startswith("Let me think about it.")
    assert "I see 2 images." in reply.content and reply.content.endswith("You said: look at this")
    assert reply.completion_tokens == len(reply.reasoning) + len(reply.text)
    (call,) = compose(ask("weather", tools=(WEATHER,)), "1").calls
    assert compose(ask("weather", tools=(WEATHER,)), "1").completion_tokens == len(
        call.argument_pieces)


@given(st.text())
def test_tokens_join_back_to_the_text(text: str) -> None:
    parts = pieces(text)
    assert "".join(parts) == text and count([text]) == len(parts)
    assert "".join(grouped(parts, 3)) == text and len(grouped(parts, 3)) <= 3


@st.composite
def bounded_asks(draw: st.DrawFn) -> Ask:
    tools = draw(st.sampled_from([(), (WEATHER,), (WEATHER, TIME)]))
    schema = draw(st.one_of(st.none(), documents()))
    return ask(draw(st.sampled_from(["hi", "weather in Oslo", "weather and time in parallel"])),
               tools=tools, schema=schema, reason=draw(st.booleans()),
               max_tokens=draw(st.one_of(st.none(), st.integers(1, 80))))


@settings(max_examples=150, deadline=None)
@given(bounded_asks())
def test_an_answer_stops_at_the_output_bound(asked: Ask) -> None:
    whole = compose(replace(asked, max_tokens=None), "1")
    reply = compose(asked, "1")
    bound = asked.max_tokens
    assert reply.cut == (bound is not None and whole.completion_tokens > bound)
    if not reply.cut:
        assert reply == whole
        return
    assert bound is not None and reply.completion_tokens == bound, "usage counts what was sent"
    produced = [*reply.reasoning, *reply.text, *(p for c in reply.calls for p in c.argument_pieces)]
    everything = [*whole.reasoning, *whole.text, *(p for c in whole.calls for p in c.argument_pieces)]
    assert produced == everything[:bound], "the first tokens, in the order a model makes them"
    for call, full in zip(reply.calls, whole.calls, strict=False):
        assert call.whole == (call.argument_pieces == full.argument_pieces)


def test_a_cut_structured_output_is_truncated_json() -> None:
    schema = {"type": "object", "properties": {"level": {"enum": ["low", "high"]},
                                               "note": {"type": "string"}}, "required": ["level"]}
    reply = compose(ask(schema=schema, max_tokens=3), "1")
    assert reply.cut and len(reply.text) == 3
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.content)
