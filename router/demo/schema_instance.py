"""A JSON value that is an instance of a JSON Schema, the way a model following the schema would
answer: what the simulated backends put in structured outputs and tool-call arguments.

It covers what the SDKs' schema builders emit (pydantic's `model_json_schema()`, zod's JSON
Schema, OpenAI strict schemas): objects with required and optional properties, arrays with
bounds, enums and consts, `anyOf` / `oneOf` / `allOf`, `$ref` into `$defs` / `definitions` or any
JSON pointer, nullable type lists, string formats, `pattern` (router.demo.pattern_string: the
common regex subset; beyond it, a few guesses) and numeric bounds, and `uniqueItems` arrays
filled up to `minItems` with distinct values (another enum member, the other boolean, a further
number, another string of the format or pattern, an object or array differing in one place)
wherever the schema allows that many. Depth is bounded, so a recursive or hostile schema still
gets a finite answer (past MAX_DEPTH: the smallest valid value the branch allows; past
HARD_DEPTH, which only a hostile schema reaches: null). Strings come from the property's name
and the user's words."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from router.demo.pattern_string import matching

T = TypeVar("T")
MAX_DEPTH = 12  # past this, only the smallest valid value (no optional properties, no items)
HARD_DEPTH = 64  # required properties nested deeper than this (a hostile schema) are not filled
MAX_REFS = 64  # $ref hops along one path, so that a $ref cycle cannot loop
VARIANTS = 64  # other values tried for one more distinct item of a uniqueItems array


def _numbered(first: str, other: Callable[[int], str]) -> Callable[[int], str]:
    return lambda n: other(n) if n else first


# Values of each string format (JSON Schema's formats that pydantic and zod emit): the n-th, so
# that a uniqueItems array of them can have distinct ones.
FORMATS: Mapping[str, Callable[[int], str]] = {
    "date": lambda n: f"2025-06-{n % 28 + 1:02d}",
    "date-time": lambda n: f"2025-06-{n % 28 + 1:02d}T12:{n // 28 % 60:02d}:00Z",
    "time": lambda n: f"12:{n // 60 % 60:02d}:{n % 60:02d}",
    "email": _numbered("ada@example.com", lambda n: f"ada{n}@example.com"),
    "idn-email": _numbered("ada@example.com", lambda n: f"ada{n}@example.com"),
    "uri": _numbered("https://example.com/", lambda n: f"https://example.com/{n}"),
    "url": _numbered("https://example.com/", lambda n: f"https://example.com/{n}"),
    "iri": _numbered("https://example.com/", lambda n: f"https://example.com/{n}"),
    "uuid": lambda n: f"3f2b8c1e-9d4a-4c6e-8b7f-{0x2a1d5e6f7a8b + n:012x}",
    "ipv4": lambda n: f"192.0.2.{n % 254 + 1}",
    "ipv6": lambda n: f"2001:db8::{n + 1:x}",
    "hostname": _numbered("example.com", lambda n: f"host{n}.example.com"),
    "duration": lambda n: f"PT{n + 1}H",
    "uri-reference": _numbered("/docs", lambda n: f"/docs/{n}"),
}
# Property names a model would fill with a place, a person... (substring of the lower-cased name).
NAMED: tuple[tuple[str, str], ...] = (
    ("city", "{place}"), ("location", "{place}"), ("place", "{place}"), ("town", "{place}"),
    ("email", "ada@example.com"), ("url", "https://example.com/"),
    ("name", "Ada Lovelace"), ("title", "A short title"), ("date", "2025-06-01"),
    ("language", "English"), ("unit", "celsius"), ("id", "item-1"),
)
DEFAULT_PLACE = "Paris"
CAPITALISED = re.compile(r"(?<=[a-z,;:] )[A-Z][a-zA-Z-]+")


@dataclass(frozen=True, slots=True)
class _Walk:
    root: Any
    said: str  # the user's words: a place a tool is asked about is usually in them

    def place(self) -> str:
        found = CAPITALISED.search(self.said)
        return found.group(0) if found else DEFAULT_PLACE


def instance(schema: Any, said: str = "") -> Any:
    """A value valid against `schema` (a JSON Schema as parsed JSON)."""
    return _value(_Walk(schema, said), schema, "", 0, 0)


def _value(w: _Walk, schema: Any, name: str, depth: int, refs: int) -> Any:
    if depth > HARD_DEPTH:
        return None
    if schema is True or not isinstance(schema, dict):
        return _string(w, {}, name)
    if "$ref" in schema and refs < MAX_REFS:
        target = _resolve(w.root, schema["$ref"])
        if target is not None:
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            merged = {**target, **siblings} if isinstance(target, dict) else target
            return _value(w, merged, name, depth, refs + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        return _value(w, _merge_all_of(w, schema), name, depth, refs + 1)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            rest = {k: v for k, v in schema.items() if k not in (key, "default")}
            return _value(w, {**rest, **_pick(w, options, depth)}, name, depth, refs + 1)
    return _BY_TYPE[_type_of(schema, depth)](w, schema, name, depth, refs)


def _resolve(root: Any, ref: Any) -> Any:
    """A local JSON pointer (`#/$defs/X`, `#/definitions/X`, `#/properties/a/items`, `#`)."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node = root
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _merge_all_of(w: _Walk, schema: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = _resolve(w.root, part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _pick(w: _Walk, options: list[Any], depth: int) -> dict[str, Any]:
    """The branch a model would take: the first non-null one, or the null one when deep."""
    def is_null(option: Any) -> bool:
        target = _resolve(w.root, option["$ref"]) if isinstance(option, dict) and "$ref" in option \
            else option
        return isinstance(target, dict) and target.get("type") == "null"

    usable = [o for o in options if isinstance(o, dict)]
    if not usable:
        return {}
    nulls = [o for o in usable if is_null(o)]
    if depth >= MAX_DEPTH and nulls:
        return nulls[0]
    others = [o for o in usable if not is_null(o)]
    return (others or usable)[0]


def _type_of(schema: dict[str, Any], depth: int) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k in _BY_TYPE]
        if depth >= MAX_DEPTH and "null" in kinds:
            return "null"
        kind = next((k for k in kinds if k != "null"), kinds[0] if kinds else None)
    if kind in _BY_TYPE:
        return str(kind)
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _object(w: _Walk, schema: dict[str, Any], name: str, depth: int, refs: int) -> Any:
    props: dict[str, Any] = _of(schema, "properties", dict) or {}
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    # Shallow: every property, as a helpful model fills them; deep: only the required ones.
    keys = list(props) if depth < MAX_DEPTH // 2 else [k for k in props if k in required]
    keys += [r for r in required if r not in keys]
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = _value(w, props.get(key, {}), key, depth + 1, refs)
    minimum = schema.get("minProperties")
    extra = schema.get("additionalProperties")
    while isinstance(minimum, int) and len(out) < minimum and extra is not False:
        out[f"key{len(out)}"] = _value(w, extra if isinstance(extra, dict) else {}, "", depth + 1, refs)
    return out


def _array(w: _Walk, schema: dict[str, Any], name: str, depth: int, refs: int) -> Any:
    prefix: list[Any] = _of(schema, "prefixItems", list) or []
    items = schema.get("items", {})
    if isinstance(items, list):  # draft-07 tuple form
        prefix, items = items, schema.get("additionalItems", {})
    low = _of(schema, "minItems", int) or 0
    high = _of(schema, "maxItems", int)
    count = max(low, len(prefix), 0 if depth >= MAX_DEPTH or items is False else 2)
    if high is not None:
        count = min(count, high)
    out: list[Any] = []
    for i in range(count):
        part = prefix[i] if i < len(prefix) else items
        value = _value(w, part, name, depth + 1, refs)
        if schema.get("uniqueItems") and value in out:
            value = _distinct(w, part, out, name, depth, refs)
            if value is _NONE:
                break
        out.append(value)
    return out


_NONE = object()


def _distinct(w: _Walk, part: Any, taken: list[Any], name: str, depth: int, refs: int) -> Any:
    """Another valid item for a uniqueItems array; _NONE when the schema allows no other value
    (among the ones tried)."""
    tried = islice(_variants(w, part, name, depth + 1, refs), len(taken) + VARIANTS)
    return next((v for v in tried if v not in taken), _NONE)


def _variants(w: _Walk, schema: Any, name: str, depth: int, refs: int) -> Iterator[Any]:
    """Values valid against `schema`, one after another (not always distinct)."""
    if depth > HARD_DEPTH or not isinstance(schema, dict) or refs >= MAX_REFS:
        yield _value(w, schema, name, depth, refs)
        return
    if "$ref" in schema:
        target = _resolve(w.root, schema["$ref"])
        if target is not None:
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            merged = {**target, **siblings} if isinstance(target, dict) else target
            yield from _variants(w, merged, name, depth, refs + 1)
            return
    if "const" in schema:
        yield schema["const"]
        return
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        yield from schema["enum"]
        return
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        yield from _variants(w, _merge_all_of(w, schema), name, depth, refs + 1)
        return
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            rest = {k: v for k, v in schema.items() if k not in (key, "default")}
            first = _pick(w, options, depth)
            for option in [first, *(o for o in options if isinstance(o, dict) and o is not first)]:
                if key == "oneOf" and option is not first:
                    return  # another branch's value may match two branches
                yield from _variants(w, {**rest, **option}, name, depth, refs + 1)
            return
    yield from _VARIANTS_BY_TYPE[_type_of(schema, depth)](w, schema, name, depth, refs)


def _number_variants(w: _Walk, schema: dict[str, Any], name: str, depth: int,
                     refs: int) -> Iterator[Any]:
    integer = _type_of(schema, depth) == "integer"
    base = _number(w, schema, name, depth, refs)
    low = _bound(schema, "minimum", "exclusiveMinimum", integer, up=True)
    high = _bound(schema, "maximum", "exclusiveMaximum", integer, up=False)
    step: float = 1
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and not isinstance(multiple, bool) and multiple > 0:
        step = multiple
    elif not integer and low is not None and high is not None and high - low < VARIANTS:
        step = (high - low) / VARIANTS
    yield base
    for k in range(1, VARIANTS):
        for value in (base + k * step, base - k * step):
            if (low is None or value >= low) and (high is None or value <= high):
                yield int(value) if integer else value


def _string_variants(w: _Walk, schema: dict[str, Any], name: str, depth: int,
                     refs: int) -> Iterator[Any]:
    yield _string(w, schema, name)
    for n in range(1, VARIANTS):
        text = _string_variant(w, schema, name, n)
        if text is not None:
            yield text


def _object_variants(w: _Walk, schema: dict[str, Any], name: str, depth: int,
                     refs: int) -> Iterator[Any]:
    """The usual object, then ones that differ from it in one property."""
    base = _object(w, schema, name, depth, refs)
    yield base
    props: dict[str, Any] = _of(schema, "properties", dict) or {}
    extra = schema.get("additionalProperties")
    for key, value in base.items():
        sub = props.get(key, extra if isinstance(extra, dict) else {})
        for other in islice(_variants(w, sub, key, depth + 1, refs), VARIANTS):
            if other != value:
                yield {**base, key: other}


def _array_variants(w: _Walk, schema: dict[str, Any], name: str, depth: int,
                    refs: int) -> Iterator[Any]:
    """The usual array, then ones whose first item differs (or, empty, one with an item)."""
    base = _array(w, schema, name, depth, refs)
    yield base
    prefix: list[Any] = _of(schema, "prefixItems", list) or []
    items = schema.get("items", {})
    if isinstance(items, list):
        prefix, items = items, schema.get("additionalItems", {})
    part = prefix[0] if prefix else items
    if part is False:
        return
    high = _of(schema, "maxItems", int)
    if not base:
        if high is None or high >= 1:
            yield [_value(w, part, name, depth + 1, refs)]
        return
    for other in islice(_variants(w, part, name, depth + 1, refs), VARIANTS):
        if other != base[0] and not (schema.get("uniqueItems") and other in base[1:]):
            yield [other, *base[1:]]


def _string(w: _Walk, schema: dict[str, Any], name: str, depth: int = 0, refs: int = 0) -> Any:
    made = _string_variant(w, schema, name, 0)
    assert made is not None  # the first variant always gives its best
    return made


def _string_variant(w: _Walk, schema: dict[str, Any], name: str, n: int) -> str | None:
    """The n-th string for `schema` (0: the usual one, always given, as close as can be); None
    when no n-th one fitting the schema was found."""
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS:
        return FORMATS[fmt](n)
    low = _of(schema, "minLength", int) or 0
    high = _of(schema, "maxLength", int)
    named = _named(w, name.lower())
    # what makes the n-th string another one: a number, or (when it is short) a letter
    marks = (f" {n}", str(n), _LETTERS[(n - 1) % len(_LETTERS)]) if n else ("",)
    sized = [_sized(named, mark, low, high) for mark in marks]
    text = next((t for t in sized if low <= len(t) <= (high if high is not None else len(t))),
                sized[-1])
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, text):
        made = matching(pattern, low, high, n)
        guesses = () if n else _PATTERN_GUESSES
        text = made if made is not None else next((c for c in guesses if _matches(pattern, c) and
                                                   low <= len(c) <= (high if high is not None
                                                                     else len(c))), text)
    return text if n == 0 or _string_fits(schema, text) else None


def _sized(text: str, mark: str, low: int, high: int | None) -> str:
    """`text` padded to `low` and cut to `high`, ending with `mark`."""
    if len(text + mark) < low:
        text = (text + " ") * (low // max(len(text) + 1, 1) + 1)
    if high is not None:
        text = text[:max(high - len(mark), 0)]
    return text + mark


def _named(w: _Walk, name: str) -> str:
    for part, value in NAMED:
        if part in name:
            return value.format(place=w.place())
    return f"example {name.replace('_', ' ')}".strip() if name else "example"


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PATTERN_GUESSES = ("a", "A", "abc", "ABC", "1", "123", "a1", "A1", "abc-123", "2025-06-01", "x_y")


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True  # a pattern Python cannot read: nothing better to offer


def _string_fits(schema: Any, text: str) -> bool:
    if not isinstance(schema, dict):
        return True
    low = _of(schema, "minLength", int)
    high = _of(schema, "maxLength", int)
    pattern = schema.get("pattern")
    return (low is None or len(text) >= low) and (high is None or len(text) <= high) and (
        not isinstance(pattern, str) or _matches(pattern, text))


def _number(w: _Walk, schema: dict[str, Any], name: str, depth: int, refs: int) -> Any:
    integer = _type_of(schema, depth) == "integer"
    low = _bound(schema, "minimum", "exclusiveMinimum", integer, up=True)
    high = _bound(schema, "maximum", "exclusiveMaximum", integer, up=False)
    value: float = 1 if low is None else low
    if high is not None and value > high:
        value = high
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        value = math.ceil(value / step) * step
        if high is not None and value > high:
            value = math.floor(high / step) * step
        if integer:
            value = round(value)
    return int(value) if integer else value


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, integer: bool,
           up: bool) -> float | None:
    found: list[float] = []
    if _numeric(schema.get(inclusive)):
        found.append(schema[inclusive])
    ex = schema.get(exclusive)
    if isinstance(ex, int | float) and not isinstance(ex, bool):
        nudge = 1 if integer else max(abs(ex) * 1e-6, 1e-6)
        found.append(ex + nudge if up else ex - nudge)
    if not found:
        return None
    edge = max(found) if up else min(found)
    if integer:
        edge = math.ceil(edge) if up else math.floor(edge)
    return edge


def _of(schema: dict[str, Any], key: str, kind: type[T]) -> T | None:
    """schema[key] when it has the expected JSON type (a bool is no int here)."""
    value = schema.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_BY_TYPE: Mapping[str, Callable[[_Walk, dict[str, Any], str, int, int], Any]] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _number,
    "number": _number,
    "boolean": lambda w, s, n, d, r: True,
    "null": lambda w, s, n, d, r: None,
}
_VARIANTS_BY_TYPE: Mapping[str, Callable[[_Walk, dict[str, Any], str, int, int], Iterator[Any]]] = {
    "object": _object_variants,
    "array": _array_variants,
    "string": _string_variants,
    "integer": _number_variants,
    "number": _number_variants,
    "boolean": lambda w, s, n, d, r: iter((True, False)),
    "null": lambda w, s, n, d, r: iter((None,)),
}
