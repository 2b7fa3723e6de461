"""A fake Anthropic Messages upstream: the Anthropic-API twin of router.demo.upstream, used by
`freerouter demo` and the tests. It answers POST /v1/messages (JSON and SSE, text and tool_use
blocks, parallel tool use when the user says "parallel") and GET /v1/models, takes the same
scripted Faults, and records every request with what a strict Anthropic API would reject in it
(router.demo.anthropic_validation).

Run alone: `python -m router.demo.anthropic_upstream --port 9100`
(base_url http://127.0.0.1:9100/v1).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Mapping
from itertools import count
from typing import Any

import orjson
from aiohttp import web

from router.demo.anthropic_validation import validate_anthropic_request
from router.demo.upstream import Behaviour, Fault, Received, ScriptedUpstream
from router.types import JSON


class FakeAnthropicUpstream(ScriptedUpstream):
    def __init__(
        self, behaviours: Mapping[str, Behaviour] | None = None, *, seed: int = 0,
        api_key: str | None = None, default: Behaviour | None = None,
        tool_inputs: Mapping[str, JSON] | None = None,
    ) -> None:
        super().__init__(behaviours, seed=seed, api_key=api_key, default=default)
        # scripted `input` per tool name, so a real agent can run the call; else made up
        self.tool_inputs = dict(tool_inputs or {})
        self._ids = count(1)

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

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "invalid_request_error", "body is not JSON")
        betas = frozenset(b.strip() for b in request.headers.get("anthropic-beta", "").split(","))
        problems = validate_anthropic_request(body, betas)
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
        message = _message(f"msg_fake{next(self._ids):06d}", body, self.tool_inputs)
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
            # what a real empty answer looks like: a message with no content block at all
            events = [e for e in events if not e["type"].startswith("content_block")]
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


def _mentioned_last(tools: list[JSON], said: str) -> list[JSON]:
    """The tool the user named last ("use the Read tool ..."), first; agents' prompts carry
    long preambles that may name other tools before the actual request."""
    def last_mention(tool: JSON) -> int:
        found = [m.start() for m in re.finditer(rf"\b{re.escape(tool['name'])}\b", said)]
        return found[-1] if found else -1

    named = sorted((t for t in tools if last_mention(t) >= 0), key=last_mention, reverse=True)
    return named + [t for t in tools if t not in named]


def _tool_uses(body: JSON, said: str, serial: str, inputs: Mapping[str, JSON]) -> list[JSON]:
    tools = [t for t in body.get("tools") or [] if "input_schema" in t]
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return []
    if choice.get("type") == "tool":
        tools = [t for t in tools if t["name"] == choice.get("name")]
    many = "parallel" in said and not choice.get("disable_parallel_tool_use")
    chosen = tools[:2] if many else _mentioned_last(tools, said)[:1]
    return [{"type": "tool_use", "id": f"toolu_{serial}_{i}", "name": t["name"],
             "input": inputs.get(t["name"]) or _input(t)} for i, t in enumerate(chosen)]


def _message(message_id: str, body: JSON, inputs: Mapping[str, JSON]) -> JSON:
    messages = body["messages"]
    last = messages[-1]
    said = _text(last.get("content"))
    content: list[JSON] = []
    if _answers_tools(last):
        content.append({"type": "text", "text": f"The tool said: {said[:200]}"})
    else:
        content.extend(_tool_uses(body, said, message_id[-6:], inputs))
        if not content:
            content.append({"type": "text",
                            "text": f"Hello from {body['model']}! You said: {said[:200]}"})
    thinking = body.get("thinking") or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        content.insert(0, {"type": "thinking", "thinking": "Let me think about it.",
                           "signature": f"sig_{message_id}"})
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
    elif block["type"] == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": t}
                  for t in _split(block["thinking"], pieces)]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
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
