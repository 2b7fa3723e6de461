"""What a simulated model answers, whatever API it is asked through: the fakes turn their wire
format into an `Ask` and a `Reply` back into their wire format.

It behaves the way a client expects a model to: a structured-output request gets JSON that is an
instance of the schema; a tool the user asks for (or that `tool_choice` forces) is called with
arguments that validate against its schema; a tool's result is acknowledged; images are
described; a reasoning backend thinks first. Every piece is one token (router.demo.tokenizer),
so usage counts exactly what the prompt held and the answer streamed. An answer longer than the
request's output bound stops there, as a model's does at its max_tokens: the reasoning, then
the text, then the calls' arguments, cut at the bound (a structured output or a call's
arguments then end as truncated JSON), with a length stop."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from router.demo.schema_instance import instance
from router.demo.tokenizer import pieces
from router.types import JSON

# Words of a tool's name that say nothing about what it does: `get_weather` is asked for by
# "weather", never by "get".
GENERIC_WORDS = frozenset({"get", "set", "the", "tool", "call", "run", "fetch", "make", "do",
                           "list", "use", "new", "add", "put", "and", "for", "with", "from"})
PARALLEL = re.compile(r"\bparallel\b", re.IGNORECASE)
MAX_SCHEMA_STARTS = 64  # `{` positions tried when looking for a schema in the prompt


class ToolMode(enum.Enum):
    AUTO = "auto"  # call what the user asks for
    REQUIRED = "required"  # call something (OpenAI "required", Anthropic "any")
    NAMED = "named"  # call the named tool
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    schema: JSON  # the JSON Schema of its arguments


@dataclass(frozen=True, slots=True)
class Ask:
    model: str
    said: str  # the text of the user's latest turn
    prompt_tokens: int
    tool_results: tuple[str, ...] = ()  # what the tools answered, when the last turn holds that
    images: int = 0  # images in the user's latest turn
    tools: tuple[Tool, ...] = ()
    tool_mode: ToolMode = ToolMode.AUTO
    named_tool: str | None = None
    parallel: bool = True
    schema: JSON | None = None  # a structured-output schema
    json_mode: bool = False  # JSON asked for without a schema (json_object)
    reason: bool = False  # think (stream reasoning) before answering
    prompt_text: str = ""  # everything the prompt says, where a json_object request's schema is
    max_tokens: int | None = None  # the output bound (reasoning included); None: unbounded


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: JSON
    argument_pieces: tuple[str, ...]  # the arguments' JSON text, one token each
    whole: bool = True  # False: the output bound cut its arguments short (no valid JSON)


@dataclass(frozen=True, slots=True)
class Reply:
    reasoning: tuple[str, ...]  # tokens
    text: tuple[str, ...]  # tokens
    calls: tuple[ToolCall, ...]
    prompt_tokens: int
    cut: bool = False  # the output bound stopped it (a length stop)
    completion_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        counted = len(self.reasoning) + len(self.text) + sum(len(c.argument_pieces)
                                                             for c in self.calls)
        object.__setattr__(self, "completion_tokens", max(counted, 1))

    @property
    def content(self) -> str:
        return "".join(self.text)

    @property
    def thought(self) -> str:
        return "".join(self.reasoning)


def compose(ask: Ask, serial: str, inputs: Mapping[str, JSON] | None = None) -> Reply:
    """The answer to `ask`; `serial` makes its tool-call ids unique, `inputs` scripts the
    arguments of named tools (so a real agent can run the call)."""
    calls = tuple(_call(ask, tool, f"{serial}_{i}", inputs or {})
                  for i, tool in enumerate(_tools_to_call(ask)))
    reasoning = pieces(_thought(ask)) if ask.reason else []
    text = "" if calls else _text(ask)
    return _within(Reply(tuple(reasoning), tuple(pieces(text)), calls, ask.prompt_tokens),
                   ask.max_tokens)


def _within(reply: Reply, bound: int | None) -> Reply:
    """The reply stopped after `bound` tokens, in the order a model produces them."""
    if bound is None or reply.completion_tokens <= bound:
        return reply
    left = max(bound, 1)
    reasoning, left = reply.reasoning[:left], left - min(len(reply.reasoning), left)
    text, left = reply.text[:left], left - min(len(reply.text), left)
    calls: list[ToolCall] = []
    for call in reply.calls:
        if left <= 0:
            break
        kept = call.argument_pieces[:left]
        left -= len(kept)
        calls.append(replace(call, argument_pieces=kept,
                             whole=len(kept) == len(call.argument_pieces)))
    return Reply(reasoning, text, tuple(calls), reply.prompt_tokens, cut=True)


def _tools_to_call(ask: Ask) -> list[Tool]:
    if not ask.tools or ask.tool_mode is ToolMode.NONE or (
            ask.tool_results and ask.tool_mode is ToolMode.AUTO):
        return []
    if ask.tool_mode is ToolMode.NAMED:
        return [t for t in ask.tools if t.name == ask.named_tool][:1]
    ranked = _mentioned(ask.tools, ask.said)
    if ask.parallel and PARALLEL.search(ask.said):
        return [*ranked, *(t for t in ask.tools if t not in ranked)][:2]
    if ranked:
        return ranked[:1]
    return list(ask.tools[:1]) if ask.tool_mode is ToolMode.REQUIRED else []


def _mentioned(tools: Sequence[Tool], said: str) -> list[Tool]:
    """The tools the user asked for, the one named last first: agents' prompts carry long
    preambles that may name other tools before the actual request."""
    def last_mention(tool: Tool) -> int:
        found = [m.start() for m in re.finditer(rf"\b{re.escape(tool.name)}\b", said, re.I)]
        for word in _name_words(tool.name):
            found += [m.start() for m in re.finditer(rf"\b{re.escape(word)}", said, re.I)]
        return max(found, default=-1)

    named = [t for t in tools if last_mention(t) >= 0]
    return sorted(named, key=last_mention, reverse=True)


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_\-.]+", spaced.lower())
            if len(w) >= 3 and w not in GENERIC_WORDS]


def _call(ask: Ask, tool: Tool, serial: str, inputs: Mapping[str, JSON]) -> ToolCall:
    arguments = inputs.get(tool.name)
    if arguments is None:
        made = instance(tool.schema or {"type": "object"}, ask.said)
        arguments = made if isinstance(made, dict) else {}
    return ToolCall(serial, tool.name, arguments, tuple(pieces(orjson.dumps(arguments).decode())))


def _thought(ask: Ask) -> str:
    words = len(ask.said.split())
    goal = "call a tool" if ask.tools and ask.tool_mode is not ToolMode.NONE else "answer"
    return (f"Let me think about it. The user wrote {words} word{'s' * (words != 1)}; "
            f"I should {goal} plainly.")


def _text(ask: Ask) -> str:
    if ask.schema is not None:
        return orjson.dumps(instance(ask.schema, ask.said)).decode()
    if ask.json_mode:
        return orjson.dumps(_json_object(ask)).decode()
    if ask.tool_results:
        return f"The tool said: {' '.join(ask.tool_results)[:200]}"
    seen = ""
    if ask.images:
        seen = f" I see {ask.images} image{'s' * (ask.images != 1)}."
    return f"Hello from {ask.model}!{seen} You said: {ask.said[:200]}"


def _json_object(ask: Ask) -> Any:
    """JSON mode without a schema: clients then describe the object they want in the prompt
    (instructor, LangChain), so follow a JSON Schema found there; else a plain object."""
    decoder = json.JSONDecoder()
    starts = [i for i, c in enumerate(ask.prompt_text) if c == "{"][:MAX_SCHEMA_STARTS]
    for start in starts:
        try:
            schema, _end = decoder.raw_decode(ask.prompt_text, start)
        except ValueError:
            continue
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
            made = instance(schema, ask.said)
            if isinstance(made, dict):
                return made
    return {"answer": f"Hello from {ask.model}! You said: {ask.said[:200]}"}
