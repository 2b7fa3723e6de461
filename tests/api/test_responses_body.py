"""The shape checks of a Responses request (router.api.responses_body): each malformed field is
a 400 in OpenAI's format naming it as `param`, with OpenAI's own code where it has one; the
bodies real clients send (Codex, the AI SDK, the Agents SDK shapes) pass, unknown fields too."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.api.responses_body import validate_responses_body
from router.errors import RequestError

FUNCTION = {"type": "function", "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
BASE: dict[str, Any] = {"model": "free", "input": "hi"}

# (what is wrong, the body's extra fields, the param named, OpenAI's code)
BAD: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("top_p below 0", {"top_p": -1}, "top_p", "decimal_below_min_value"),
    ("top_p above 1", {"top_p": 1.5}, "top_p", "decimal_above_max_value"),
    ("temperature above 2", {"temperature": 3}, "temperature", "decimal_above_max_value"),
    ("temperature below 0", {"temperature": -0.1}, "temperature", "decimal_below_min_value"),
    ("temperature a string", {"temperature": "hot"}, "temperature", None),
    ("json_schema with no schema", {"text": {"format": {"type": "json_schema", "name": "x"}}},
     "text.format.schema", "missing_required_parameter"),
    ("json_schema with a string schema",
     {"text": {"format": {"type": "json_schema", "name": "x", "schema": "{}"}}},
     "text.format.schema", "invalid_type"),
    ("a format of no known type", {"text": {"format": {"type": "yaml"}}}, "text.format.type",
     "invalid_value"),
    ("a format with no type", {"text": {"format": {}}}, "text.format.type",
     "missing_required_parameter"),
    ("a format that is a string", {"text": {"format": "json_object"}}, "text.format",
     "invalid_type"),
    ("a function tool without a name", {"tools": [{"type": "function", "parameters": {}}]},
     "tools[0].name", "missing_required_parameter"),
    ("a function tool with an empty name", {"tools": [FUNCTION, {"type": "function", "name": ""}]},
     "tools[1].name", "invalid_type"),
    ("a custom tool without a name", {"tools": [{"type": "custom"}]}, "tools[0].name",
     "missing_required_parameter"),
    ("a tool without a type", {"tools": [{"name": "f"}]}, "tools[0].type",
     "missing_required_parameter"),
    ("parameters that are not a schema", {"tools": [{**FUNCTION, "parameters": "none"}]},
     "tools[0].parameters", "invalid_type"),
    ("a namespace member without a name",
     {"tools": [{"type": "namespace", "name": "ns", "tools": [{"type": "function"}]}]},
     "tools[0].tools[0].name", "missing_required_parameter"),
    ("a namespace without tools", {"tools": [{"type": "namespace", "name": "ns"}]},
     "tools[0].tools", "missing_required_parameter"),
    ("an unknown tool_choice", {"tool_choice": "always"}, "tool_choice", "invalid_value"),
    ("a function choice without a name", {"tool_choice": {"type": "function"}},
     "tool_choice.name", "missing_required_parameter"),
    ("a choice without a type", {"tool_choice": {"name": "f"}}, "tool_choice.type",
     "missing_required_parameter"),
    ("an effort that is not a string", {"reasoning": {"effort": 3}}, "reasoning.effort",
     "invalid_type"),
]


@pytest.mark.parametrize(("extra", "param", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_malformed_field_is_named(extra: dict[str, Any], param: str, code: str | None) -> None:
    with pytest.raises(RequestError) as err:
        validate_responses_body(BASE | extra)
    assert (err.value.status, err.value.error_type, err.value.param, err.value.code) == (
        400, "invalid_request_error", param, code)
    assert param.split(".")[0].split("[")[0] in err.value.message


def test_openai_words_its_range_errors() -> None:
    with pytest.raises(RequestError) as err:
        validate_responses_body(BASE | {"top_p": -1})
    assert err.value.message == ("Invalid 'top_p': decimal below minimum value. Expected a value "
                                 ">= 0, but got -1 instead.")
    with pytest.raises(RequestError) as err:
        validate_responses_body(BASE | {"text": {"format": {"type": "json_schema", "name": "x"}}})
    assert err.value.message == "Missing required parameter: 'text.format.schema'."


GOOD: list[dict[str, Any]] = [
    {"tools": [FUNCTION, {"type": "function", "name": "no_parameters"},
               {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
               {"type": "namespace", "name": "agents", "description": "d",
                "tools": [{"type": "function", "name": "spawn"}]},
               {"type": "web_search", "external_web_access": False},
               {"type": "mcp", "server_label": "x"}, {"type": "some_future_tool"}]},
    {"tool_choice": "required"}, {"tool_choice": {"type": "function", "name": "get_weather"}},
    {"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}},
    {"tool_choice": {"type": "file_search"}},
    {"text": {"format": {"type": "json_schema", "name": "x", "schema": SCHEMA, "strict": True}}},
    {"text": {"format": {"type": "json_schema", "schema": SCHEMA}}},  # name: "response" is used
    {"text": {"format": {"type": "json_object"}}}, {"text": {"verbosity": "low"}},
    {"text": {"format": {"type": "text"}, "verbosity": "medium"}},
    {"reasoning": {"effort": "xhigh", "summary": "auto"}}, {"reasoning": {"summary": "auto"}},
    {"temperature": 0, "top_p": 1}, {"temperature": 2, "top_p": 0},
    {"a_future_field": {"x": 1}, "include": ["reasoning.encrypted_content"]},
]


@pytest.mark.parametrize("extra", GOOD)
def test_what_clients_send_passes(extra: dict[str, Any]) -> None:
    validate_responses_body(BASE | extra)


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_sampling_is_taken_exactly_within_openais_ranges(temperature: float, top_p: float) -> None:
    fits = 0 <= temperature <= 2 and 0 <= top_p <= 1
    try:
        validate_responses_body(BASE | {"temperature": temperature, "top_p": top_p})
    except RequestError as exc:
        assert not fits and exc.param in ("temperature", "top_p")
    else:
        assert fits
