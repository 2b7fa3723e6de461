"""The demo's structured outputs and tool arguments are instances of the schema asked for: JSON
Schemas as pydantic and zod emit them, checked with a real validator (jsonschema) and by pydantic
parsing the value back, plus hypothesis-generated schemas over the same vocabulary, string
`pattern`s of the common regex subset, and uniqueItems arrays that need distinct values."""

from __future__ import annotations

import datetime
import enum
import re
import uuid
from typing import Any, Literal

import jsonschema
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.demo.schema_instance import MAX_DEPTH, instance
from tests.demo.test_pattern_string import HOSTILE, patterns


def assert_valid(schema: dict[str, Any], value: Any) -> None:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, (errors, value)


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(pydantic.BaseModel):
    street: str
    city: str
    zip_code: str = pydantic.Field(min_length=5, max_length=5)


class Tree(pydantic.BaseModel):
    label: str
    children: list[Tree] = []


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=18, lt=130)
    score: float = pydantic.Field(gt=0, le=1)
    colour: Colour
    kind: Literal["cat", "dog"]
    address: Address
    previous: Address | None = None
    tags: list[str] = pydantic.Field(min_length=1)
    pair: tuple[int, str]
    counts: dict[str, int]
    born: datetime.date
    seen: datetime.datetime
    ident: uuid.UUID
    tree: Tree
    unique: set[Colour] = pydantic.Field(min_length=2)


@pytest.mark.parametrize("model", [Person, Address, Tree])
def test_pydantic_schemas_get_values_pydantic_accepts(model: type[pydantic.BaseModel]) -> None:
    schema = model.model_json_schema()
    value = instance(schema)
    assert_valid(schema, value)
    model.model_validate(value)


def test_zod_style_schema_with_definitions_and_relative_refs() -> None:
    # what zod-to-json-schema emits: `definitions`, and `#/properties/...` refs for reuse
    schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "home": {"$ref": "#/definitions/place"},
            "work": {"$ref": "#/properties/home"},
            "mood": {"type": "string", "enum": ["calm", "busy"]},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "n": {"type": "integer", "exclusiveMinimum": 0}, "what": {"type": "string"}},
                "required": ["n", "what"], "additionalProperties": False}, "minItems": 1},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "flag": {"type": ["boolean", "null"]},
            "when": {"type": "string", "format": "date-time"},
        },
        "required": ["home", "work", "mood", "steps", "note", "flag", "when"],
        "definitions": {"place": {"type": "object", "properties": {
            "city": {"type": "string"}, "lat": {"type": "number", "minimum": -90, "maximum": 90}},
            "required": ["city", "lat"], "additionalProperties": False}},
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    value = instance(schema, "weather in Berlin please")
    assert_valid(schema, value)
    assert value["home"]["city"] == "Berlin"  # the place the user named
    assert value["steps"] and value["mood"] == "calm"


def test_recursive_and_hostile_schemas_stay_finite() -> None:
    loop = {"$ref": "#"}
    assert instance(loop) is not None
    deep: dict[str, Any] = {"type": "object", "properties": {}, "required": ["next"]}
    node = deep
    for _ in range(900):
        child: dict[str, Any] = {"type": "object", "properties": {}, "required": ["next"]}
        node["properties"]["next"] = child
        node = child
    instance(deep)  # no RecursionError
    nullable_tree = {"$defs": {"n": {"type": "object", "properties": {
        "next": {"anyOf": [{"$ref": "#/$defs/n"}, {"type": "null"}]}}, "required": ["next"]}},
        "$ref": "#/$defs/n"}
    value = instance(nullable_tree)
    assert_valid(nullable_tree, value)
    depth = 0
    while value is not None:
        value, depth = value["next"], depth + 1
    assert depth <= MAX_DEPTH + 2


# -- generated schemas ------------------------------------------------------------------------

NAMES = st.sampled_from(["city", "name", "count", "items", "when", "email", "x", "tag_list"])
FORMATS = st.sampled_from(["date", "date-time", "email", "uri", "uuid", "ipv4", "ipv6", "time"])


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    integer = draw(st.booleans())
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    low = draw(st.integers(-1000, 1000))
    gap = draw(st.integers(2, 100))
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + gap
    if integer and draw(st.booleans()):
        schema["multipleOf"] = draw(st.integers(1, gap // 2 or 1))
    return schema


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"type": "string", "format": draw(FORMATS)}
    low = draw(st.integers(0, 20))
    schema: dict[str, Any] = {"type": "string", "minLength": low}
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 10))
    return schema


INTS = st.integers(-(2**63), 2**63 - 1)  # what JSON libraries (orjson) carry
ENUMS = st.lists(st.one_of(st.text(max_size=8), INTS, st.booleans(), st.none()),
                 min_size=1, max_size=5, unique_by=lambda v: (type(v), v)).map(lambda v: {"enum": v})
# -- strings with a pattern, and uniqueItems ----------------------------------------------------


@st.composite
def patterned(draw: st.DrawFn) -> dict[str, Any]:
    pattern, stretchy = draw(patterns())
    schema: dict[str, Any] = {"type": "string", "pattern": pattern}
    if stretchy and draw(st.booleans()):
        schema["minLength"] = draw(st.integers(0, 40))
    return schema


# -- uniqueItems: items of which there are enough distinct values -------------------------------

RICH_LEAVES = st.one_of(
    st.just({"type": "boolean"}),
    st.builds(lambda low, gap: {"type": "integer", "minimum": low, "maximum": low + gap},
              st.integers(-100, 100), st.integers(3, 50)),
    st.builds(lambda low: {"type": "number", "exclusiveMinimum": low, "exclusiveMaximum": low + 1},
              st.integers(-100, 100)),
    st.builds(lambda step: {"type": "integer", "multipleOf": step}, st.integers(1, 9)),
    st.builds(lambda low: {"type": "string", "minLength": low, "maxLength": low + 2},
              st.integers(1, 10)),
    st.just({"type": "string", "maxLength": 1}),
    st.builds(lambda f: {"type": "string", "format": f}, FORMATS),
    st.just({"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}),
    st.just({"type": ["boolean", "null"]}),
    st.just({"anyOf": [{"type": "boolean"}, {"type": "null"}]}),
)


def _rich(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(NAMES, children, min_size=1, max_size=3).map(
        lambda p: {"type": "object", "properties": p, "required": sorted(p),
                   "additionalProperties": False})
    arrays = children.map(lambda c: {"type": "array", "items": c, "minItems": 1, "maxItems": 2})
    return st.one_of(objects, arrays)


RICH = st.recursive(RICH_LEAVES, _rich, max_leaves=4)


@st.composite
def unique_arrays(draw: st.DrawFn) -> dict[str, Any]:
    # two: every item schema here has at least two values (a boolean has no more)
    return {"type": "array", "uniqueItems": True, "minItems": 2, "items": draw(RICH)}


LEAVES = st.one_of(numbers(), strings(), ENUMS, st.just({"type": "boolean"}),
                   st.just({"type": "null"}), st.builds(lambda v: {"const": v}, INTS), patterned())


def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def obj(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(st.dictionaries(NAMES, children, max_size=4))
        required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        return {"type": "object", "properties": props, "required": required,
                "additionalProperties": draw(st.booleans())}

    @st.composite
    def array(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 3))
        schema = {"type": "array", "items": draw(children), "minItems": low}
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 3))
        return schema

    @st.composite
    def unique(draw: st.DrawFn) -> dict[str, Any]:
        members = draw(st.lists(st.text(max_size=5), min_size=1, max_size=5, unique=True))
        return {"type": "array", "uniqueItems": True, "minItems": len(members),
                "items": {"type": "string", "enum": members}}

    nullable = children.map(lambda c: {"anyOf": [c, {"type": "null"}]})
    all_of = children.map(lambda c: {"allOf": [c], "description": "wrapped, as pydantic did"})
    return st.one_of(obj(), array(), unique(), unique_arrays(), nullable, all_of)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A root schema with $defs that the tree refers to, as pydantic and zod v4 emit."""
    defs = draw(st.dictionaries(st.sampled_from(["A", "B", "C"]),
                                st.recursive(LEAVES, extend, max_leaves=6), max_size=3))
    leaves = LEAVES if not defs else st.one_of(
        LEAVES, st.sampled_from(sorted(defs)).map(lambda n: {"$ref": f"#/$defs/{n}"}))
    root = draw(st.recursive(leaves, extend, max_leaves=12))
    return {**root, "$defs": defs} if defs else root


@settings(max_examples=120, deadline=None)
@given(documents(), st.text(max_size=40))
def test_generated_schemas_get_valid_instances(schema: dict[str, Any], said: str) -> None:
    assert_valid(schema, instance(schema, said))


def test_a_pattern_gets_a_matching_string() -> None:
    """The review's case: `^[A-Z]{3}-[0-9]{2}$` was answered "example z"."""
    schema = {"type": "object", "properties": {"z": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}},
              "required": ["z"]}
    value = instance(schema)
    assert_valid(schema, value)
    assert re.fullmatch("[A-Z]{3}-[0-9]{2}", value["z"])
    for pattern in (r"^\d{5}(-\d{4})?$", r"^(?:cat|dog)s?$", r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
                    r"^\u00e9+$", r"^[a-z][a-z0-9_]*$", r"^\+?[0-9 ]{7,15}$", r"\bword\b",
                    r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])$"):
        assert_valid({"type": "string", "pattern": pattern}, instance({"type": "string", "pattern": pattern}))


def test_unique_booleans_and_patterned_strings_fill_min_items() -> None:
    """The review's case: uniqueItems with minItems 2 on booleans gave [true]."""
    booleans = {"type": "array", "items": {"type": "boolean"}, "uniqueItems": True, "minItems": 2}
    assert sorted(instance(booleans)) == [False, True]
    codes = {"type": "array", "uniqueItems": True, "minItems": 3,
             "items": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}}
    assert_valid(codes, instance(codes))
    # as many as the schema allows, and no more: a shorter array rather than a repeated item
    three = {"type": "array", "uniqueItems": True, "minItems": 4, "items": {"enum": [1, 2, 3]}}
    assert instance(three) == [1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(patterned(), st.text(max_size=20))
def test_generated_patterns_get_matching_strings(schema: dict[str, Any], said: str) -> None:
    assert_valid(schema, instance(schema, said))


@settings(max_examples=150, deadline=None)
@given(unique_arrays(), st.text(max_size=20))
def test_unique_items_are_filled_with_distinct_values(schema: dict[str, Any], said: str) -> None:
    assert_valid(schema, instance(schema, said))


@pytest.mark.parametrize("pattern", HOSTILE)
def test_a_pattern_beyond_the_subset_still_gets_a_string(pattern: str) -> None:
    assert isinstance(instance({"type": "string", "pattern": pattern, "minLength": 2}), str)
