"""A fake Anthropic Messages upstream: the Anthropic-API twin of router.demo.upstream, used by
`freerouter demo` and the tests. It answers POST /v1/messages (JSON and SSE, text and tool_use
blocks, parallel tool use when the user says "parallel") and GET /v1/models, takes the same
scripted Faults, and records every request with what a strict Anthropic API would reject in it.

Run alone: `python -m router.demo.anthropic_upstream --port 9100`
(base_url http://127.0.0.1:9100/v1).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
from collections import deque
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any

import orjson
from aiohttp import web

from router.demo.upstream import Behaviour, Fault, Received
from router.types import JSON

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Every top-level field the Messages API knows; anything else is "Extra inputs are not permitted".
KNOWN_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "output_config",
    "service_tier", "container", "context_management", "mcp_servers", "inference_geo",
    "cache_control",
})
TOOL_CHOICES = frozenset({"auto", "any", "tool", "none"})
MIN_THINKING_BUDGET = 1024


class FakeAnthropicUpstream:
    def __init__(
        self, behaviours: Mapping[str, Behaviour] | None = None, *, seed: int = 0,
        api_key: str | None = None, default: Behaviour | None = None,
    ) -> None:
        self.behaviours = dict(behaviours or {})
        self.default = default or Behaviour()
        self.rng = random.Random(seed)
        self.api_key = api_key
        self.faults: deque[Fault] = deque()
        self.received: list[Received] = []
        self.hang = asyncio.Event()  # hangs last until this is set (or the client gives up)
        self._ids = count(1)

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @property
    def message_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/messages")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        return app

    def _auth(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("x-api-key") != self.api_key:
            return error_response(401, "authentication_error", "invalid x-api-key")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        data = [{"type": "model", "id": m, "display_name": m,
                 "created_at": "2025-01-01T00:00:00Z"} for m in self.behaviours]
        return web.json_response({
            "data": data, "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        })

    def _next_fault(self, model: str) -> Fault | None:
        for fault in self.faults:
            if fault.model in (None, model):
                self.faults.remove(fault)
                return fault
        return None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "invalid_request_error", "body is not JSON")
        problems = validate_anthropic_request(body)
        if "anthropic-version" not in request.headers:
            problems.append("the anthropic-version header is required")
        self.received.append(Received(request.path, dict(request.headers), body, problems))
        if (denied := self._auth(request)) is not None:
            return denied
        if problems:
            return error_response(400, "invalid_request_error", "; ".join(problems))
        model = body["model"]
        behaviour = self.behaviours.get(model, self.default)
        fault = self._next_fault(model)
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        if fault is None and behaviour.failure_rate and self.rng.random() < behaviour.failure_rate:
            fault = Fault(status=529, body=orjson.dumps(_error_body("overloaded_error", "Overloaded")))
        if fault is not None and (early := await self._early_fault(fault)) is not None:
            return early
        message = _message(f"msg_fake{next(self._ids):06d}", body)
        if fault is not None and fault.kind == "empty":
            message["content"] = []
        if body.get("stream"):
            return await self._stream(request, message, behaviour, fault)
        return web.json_response(message, headers={
            "request-id": "req_fake", "anthropic-ratelimit-requests-remaining": "99"})

    async def _early_fault(self, fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "status":
            body = fault.body if fault.body is not None else orjson.dumps(
                _error_body(_ERROR_TYPES.get(fault.status, "api_error"), f"injected {fault.status}"))
            return web.Response(status=fault.status, body=body, headers=fault.headers,
                                content_type="application/json")
        if fault.kind == "hang":
            await self.hang.wait()
            return error_response(500, "api_error", "hang released")
        if fault.kind == "garbage":
            return web.Response(status=200, body=b"\x00not json{", content_type="application/json")
        if fault.kind == "html":
            return web.Response(status=502, body=b"<html><body>Bad gateway</body></html>",
                                content_type="text/html")
        return None

    async def _stream(
        self, request: web.Request, message: JSON, behaviour: Behaviour, fault: Fault | None
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "request-id": "req_fake"})
        await resp.prepare(request)
        events = stream_events(message, behaviour.chunks)
        if fault is not None and fault.kind == "empty":
            # headers, then nothing: no block and no stop reason
            events = [e for e in events if e["type"] in ("message_start", "message_stop")]
        try:
            for i, event in enumerate(events):
                if fault is not None and i == len(events) // 2:
                    if fault.kind == "truncate":
                        await resp.write(b'event: content_block_delta\ndata: {"type":"conte')
                        return resp
                    if fault.kind == "midstream_error":
                        await resp.write(sse_frame(_error_body("overloaded_error", "Overloaded")))
                        return resp
                await resp.write(sse_frame(event))
                if behaviour.chunk_delay_s:
                    await asyncio.sleep(behaviour.chunk_delay_s)
            await resp.write_eof()
        except ConnectionError:
            pass  # the router hung up (its client left, or it timed out): nothing to do
        return resp


_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    504: "timeout_error", 529: "overloaded_error",
}


def _error_body(kind: str, message: str) -> JSON:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


def error_response(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(_error_body(kind, message), status=status)


def sse_frame(event: JSON) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


# -- the reply -----------------------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_block_text(b) for b in content if isinstance(b, dict))
    return ""


def _block_text(block: JSON) -> str:
    if block.get("type") == "tool_result":
        return _text(block.get("content"))
    text = block.get("text")
    return text if isinstance(text, str) else ""


def _answers_tools(message: JSON) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _input(tool: JSON) -> JSON:
    props = (tool.get("input_schema") or {}).get("properties") or {}
    return {name: ("Paris" if (p or {}).get("type", "string") == "string" else 1)
            for name, p in list(props.items())[:3]}


def _tool_uses(body: JSON, said: str, serial: str) -> list[JSON]:
    tools = [t for t in body.get("tools") or [] if "input_schema" in t]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return []
    if choice.get("type") == "tool":
        tools = [t for t in tools if t["name"] == choice.get("name")]
    many = "parallel" in said and not choice.get("disable_parallel_tool_use")
    return [{"type": "tool_use", "id": f"toolu_{serial}_{i}", "name": t["name"], "input": _input(t)}
            for i, t in enumerate(tools[: 2 if many else 1])]


def _message(message_id: str, body: JSON) -> JSON:
    messages = body["messages"]
    last = messages[-1]
    said = _text(last.get("content"))
    content: list[JSON] = []
    if _answers_tools(last):
        content.append({"type": "text", "text": f"The tool said: {said[:200]}"})
    else:
        content.extend(_tool_uses(body, said, message_id[-6:]))
        if not content:
            content.append({"type": "text",
                            "text": f"Hello from {body['model']}! You said: {said[:200]}"})
    prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
    words = sum(len(_block_text(b).split()) for b in content) + 1
    stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {
        "id": message_id, "type": "message", "role": "assistant", "model": body["model"],
        "content": content, "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": words,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def _split(text: str, pieces: int) -> list[str]:
    """Text in word-sized (or `pieces` evenly sized) deltas that join back to the text."""
    words = text.split(" ")
    if pieces:
        size = max(1, len(words) // pieces)
        words = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _block_events(index: int, block: JSON, pieces: int) -> list[JSON]:
    if block["type"] == "tool_use":
        start: JSON = {**block, "input": {}}
        args = orjson.dumps(block["input"]).decode()
        half = len(args) // 2
        deltas = [{"type": "input_json_delta", "partial_json": part}
                  for part in ("", args[:half], args[half:])]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": t} for t in _split(block["text"], pieces)]
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def stream_events(message: JSON, pieces: int = 0) -> list[JSON]:
    """The SSE events a Messages stream carries for `message`, in order."""
    usage = message["usage"]
    head = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}
    events: list[JSON] = [{"type": "message_start", "message": head}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        events.extend(_block_events(index, block, pieces))
    events.append({
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    })
    events.append({"type": "message_stop"})
    return events


# -- the validator ------------------------------------------------------------------------------


def _check_text(block: JSON, where: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text content blocks must be non-empty"]
    return []


def _check_image(block: JSON, where: str) -> list[str]:
    source = block.get("source")
    if not isinstance(source, dict):
        return [f"{where}.source is required"]
    if source.get("type") == "base64":
        if source.get("media_type") not in IMAGE_TYPES or not source.get("data"):
            return [f"{where}.source needs a supported media_type and data"]
        return []
    if source.get("type") == "url":
        return [] if isinstance(source.get("url"), str) else [f"{where}.source.url is required"]
    return [f"{where}.source.type must be base64 or url"]


def _check_tool_use(block: JSON, where: str) -> list[str]:
    problems = []
    if not isinstance(block.get("id"), str) or not TOOL_ID.match(block["id"]):
        problems.append(f"{where}.id must match {TOOL_ID.pattern}")
    if not isinstance(block.get("name"), str) or not TOOL_NAME.match(block["name"]):
        problems.append(f"{where}.name is not a valid tool name")
    if not isinstance(block.get("input"), dict):
        problems.append(f"{where}.input must be an object")
    return problems


def _check_tool_result(block: JSON, where: str) -> list[str]:
    problems = []
    if not isinstance(block.get("tool_use_id"), str):
        problems.append(f"{where}.tool_use_id is required")
    content = block.get("content")
    if isinstance(content, list):
        for j, inner in enumerate(content):
            if not isinstance(inner, dict) or inner.get("type") not in ("text", "image"):
                problems.append(f"{where}.content[{j}] must be a text or image block")
            elif inner["type"] == "text":
                problems.extend(_check_text(inner, f"{where}.content[{j}]"))
    elif content is not None and not isinstance(content, str):
        problems.append(f"{where}.content must be a string or an array")
    return problems


def _check_thinking(block: JSON, where: str) -> list[str]:
    if not isinstance(block.get("signature"), str):
        return [f"{where}.signature: Field required"]
    return []


def _check_document(block: JSON, where: str) -> list[str]:
    return [] if isinstance(block.get("source"), dict) else [f"{where}.source is required"]


_BLOCKS: Mapping[str, Callable[[JSON, str], list[str]]] = {
    "text": _check_text,
    "image": _check_image,
    "document": _check_document,
    "tool_use": _check_tool_use,
    "tool_result": _check_tool_result,
    "thinking": _check_thinking,
    "redacted_thinking": lambda b, w: [] if b.get("data") else [f"{w}.data is required"],
}


def _blocks(content: Any, where: str) -> tuple[list[JSON], list[str]]:
    if isinstance(content, str):
        return ([{"type": "text", "text": content}], [] if content else
                [f"{where}: content must be non-empty"])
    if not isinstance(content, list) or not content:
        return [], [f"{where}: content must be a non-empty string or array"]
    problems: list[str] = []
    blocks: list[JSON] = []
    for j, block in enumerate(content):
        check = _BLOCKS.get(block.get("type", "")) if isinstance(block, dict) else None
        if check is None:
            problems.append(f"{where}[{j}]: unknown content block")
            continue
        problems.extend(check(block, f"{where}[{j}]"))
        blocks.append(block)
    return blocks, problems


def _check_pairing(turns: list[tuple[str, list[JSON]]]) -> list[str]:
    """Every tool_use is answered first thing in the very next user turn, and every
    tool_result answers a tool_use of the turn just before."""
    problems = []
    for i, (role, blocks) in enumerate(turns):
        if role != "user":
            continue
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        leading = 0
        while leading < len(blocks) and blocks[leading].get("type") == "tool_result":
            leading += 1
        if leading != len(results):
            problems.append(f"messages[{i}]: tool_result blocks must come first")
        before = turns[i - 1] if i else ("user", [])
        asked = {b.get("id") for b in before[1] if b.get("type") == "tool_use"} \
            if before[0] == "assistant" else set()
        if set(results) - asked:
            problems.append(f"messages[{i}]: tool_result for an unknown tool_use id")
    for i, (role, blocks) in enumerate(turns):
        asked = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
        if role != "assistant" or not asked:
            continue
        after = turns[i + 1] if i + 1 < len(turns) else ("assistant", [])
        answered = {b.get("tool_use_id") for b in after[1] if b.get("type") == "tool_result"}
        if after[0] != "user" or asked - answered:
            problems.append(f"messages[{i}]: tool_use ids were found without tool_result "
                            "blocks immediately after")
    return problems


def _check_messages(messages: Any) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["messages: must be a non-empty array"]
    problems: list[str] = []
    turns: list[tuple[str, list[JSON]]] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            problems.append(f"messages[{i}].role: must be 'user' or 'assistant', got {role!r}")
            continue
        blocks, found = _blocks(m.get("content"), f"messages[{i}].content")
        problems.extend(found)
        if turns and turns[-1][0] == role:  # the API merges consecutive same-role turns
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if turns and turns[0][0] != "user":
        problems.append("messages: the first message must use the user role")
    return problems + _check_pairing(turns)


def _check_tools(body: JSON) -> list[str]:
    problems = []
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return ["tools: must be an array"]
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or not TOOL_NAME.match(str(tool.get("name", ""))):
            problems.append(f"tools[{i}]: invalid tool name")
        elif "type" in tool and tool["type"] != "custom":
            continue  # a server tool, with its own versioned type
        elif not isinstance(tool.get("input_schema"), dict) or \
                tool["input_schema"].get("type") != "object":
            problems.append(f"tools[{i}].input_schema: must be a JSON schema of type object")
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
            problems.append("tool_choice: must be an object with type auto, any, tool or none")
        elif choice["type"] == "tool" and not isinstance(choice.get("name"), str):
            problems.append("tool_choice.name: Field required")
    return problems


def _check_numbers(body: JSON) -> list[str]:
    problems = []
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problems.append("max_tokens: Field required (a positive integer)")
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            problems.append(f"{key}: must be within [0, 1]")
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        problems.append("top_k: must be a non-negative integer")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET or (
                isinstance(max_tokens, int) and budget >= max_tokens):
            problems.append("thinking.budget_tokens: must be >= 1024 and less than max_tokens")
    return problems


def _check_system(system: Any) -> list[str]:
    if system is None or isinstance(system, str):
        return []
    if not isinstance(system, list):
        return ["system: must be a string or an array of text blocks"]
    return [p for i, b in enumerate(system) for p in (
        _check_text(b, f"system[{i}]") if isinstance(b, dict) and b.get("type") == "text"
        else [f"system[{i}]: must be a text block"])]


def _check_misc(body: JSON) -> list[str]:
    problems = [f"{key}: Extra inputs are not permitted" for key in body if key not in KNOWN_FIELDS]
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or
                              not all(isinstance(s, str) and s.strip() for s in stops)):
        problems.append("stop_sequences: must be an array of non-blank strings")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        problems.append("metadata: only user_id is permitted")
    if "stream" in body and not isinstance(body["stream"], bool):
        problems.append("stream: must be a boolean")
    return problems


def validate_anthropic_request(body: Any) -> list[str]:
    """What the real Messages API would reject in this body (one message per problem)."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = [] if isinstance(body.get("model"), str) else ["model: Field required"]
    return (problems + _check_messages(body.get("messages")) + _check_numbers(body)
            + _check_tools(body) + _check_system(body.get("system")) + _check_misc(body))


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Anthropic Messages upstream on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    default = Behaviour(latency_s=args.latency_ms / 1000, chunk_delay_s=args.chunk_delay_ms / 1000)
    web.run_app(FakeAnthropicUpstream(default=default).app(), host=args.host, port=args.port,
                print=None)


if __name__ == "__main__":
    main()
