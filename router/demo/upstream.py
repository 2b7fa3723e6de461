"""A fake OpenAI-compatible upstream: a real loopback HTTP server used by `freerouter demo` and by
the tests. Each model has a behaviour (latency, failure rate, chunking); tests script faults one
request at a time (429 with Retry-After, 5xx, hangs, garbage, truncated streams, empty answers)
and read back every request it received, checked against the OpenAI wire format.

Run alone: `python -m router.demo.upstream --port 9000` (OpenAI API at http://127.0.0.1:9000/v1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from router.types import JSON

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass(frozen=True, slots=True)
class Behaviour:
    latency_s: float = 0.0  # before the answer's headers
    chunk_delay_s: float = 0.0  # between stream chunks
    failure_rate: float = 0.0  # share of requests answered 500
    chunks: int = 0  # split the reply into this many stream chunks (0: one per word)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, consumed by the next chat request (optionally per model)."""

    status: int = 500
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    kind: str = "status"  # status|hang|garbage|empty|truncate|stall|midstream_error|html|bad_event
    model: str | None = None


CHAOS = (
    Fault(status=500), Fault(status=503), Fault(status=429, headers={"Retry-After": "1"}),
    Fault(kind="garbage"), Fault(kind="html"), Fault(kind="empty"), Fault(kind="truncate"),
    Fault(kind="midstream_error"),
)


@dataclass(slots=True)
class Received:
    path: str
    headers: Mapping[str, str]
    body: JSON
    problems: list[str]


class ScriptedUpstream:
    """What every fake upstream shares: per-model behaviours, scripted and random faults, and
    the record of the requests it received."""

    def __init__(
        self, behaviours: Mapping[str, Behaviour] | None = None, *, seed: int = 0,
        api_key: str | None = None, default: Behaviour | None = None, chaos: float = 0.0,
    ) -> None:
        self.behaviours = dict(behaviours or {})
        self.default = default or Behaviour()
        self.chaos = chaos  # share of requests that get a random fault from CHAOS
        self.injected: Counter[str] = Counter()  # chaos faults given, by kind (GET /__stats)
        self.rng = random.Random(seed)
        self.api_key = api_key
        self.faults: deque[Fault] = deque()
        self.received: list[Received] = []
        self.hang = asyncio.Event()  # hangs last until this is set (or the client gives up)
        self.cancelled = 0  # requests whose caller hung up while they were being answered

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def _next_fault(self, model: str) -> Fault | None:
        for fault in self.faults:
            if fault.model in (None, model):
                self.faults.remove(fault)
                return fault
        if self.chaos and self.rng.random() < self.chaos:
            fault = self.rng.choice(CHAOS)
            self.injected[f"{fault.kind} {fault.status}" if fault.kind == "status" else fault.kind] += 1
            return fault
        return None


class FakeUpstream(ScriptedUpstream):
    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/chat/completions")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/__stats", self._stats)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": len(self.chat_requests), "injected": self.injected})

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.behaviours]
        return web.json_response({"object": "list", "data": data})

    def _auth(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_request_error", "body is not JSON")
        problems = validate_openai_request(body)
        self.received.append(Received(request.path, dict(request.headers), body, problems))
        if (denied := self._auth(request)) is not None:
            return denied
        if problems:
            return _error(400, "invalid_request_error", "; ".join(problems))
        model = body["model"]
        behaviour = self.behaviours.get(model, self.default)
        fault = self._next_fault(model)
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        if fault is None and behaviour.failure_rate and self.rng.random() < behaviour.failure_rate:
            fault = Fault(status=500)
        if fault is not None and (early := await self._early_fault(fault)) is not None:
            return early
        reply = _reply(body)
        if body.get("stream"):
            return await self._stream(request, body, reply, behaviour, fault)
        completion = _completion(model, reply, body)
        if fault is not None and fault.kind == "empty":
            completion["choices"][0]["message"] = {"role": "assistant", "content": ""}
        return web.json_response(completion, headers={
            "x-ratelimit-remaining-requests": "99", "x-request-id": "req_fake",
            "set-cookie": "upstream-session=1"})

    async def _early_fault(self, fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "status":
            body = fault.body if fault.body is not None else orjson.dumps(
                {"error": {"message": f"injected {fault.status}", "type": "server_error"}})
            return web.Response(status=fault.status, body=body, headers=fault.headers,
                                content_type="application/json")
        if fault.kind == "hang":
            try:
                await self.hang.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            return _error(500, "server_error", "hang released")
        if fault.kind == "garbage":
            return web.Response(status=200, body=b"\x00not json{", content_type="application/json")
        if fault.kind == "html":
            return web.Response(status=502, body=b"<html><body>Bad gateway</body></html>",
                                content_type="text/html")
        return None

    async def _stream(
        self, request: web.Request, body: JSON, reply: _Reply, behaviour: Behaviour,
        fault: Fault | None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        # The router may hang up (its client left, or it timed out): nothing to do then.
        with contextlib.suppress(ConnectionError):
            await self._write_stream(resp, body, reply, behaviour, fault)
        return resp

    async def _write_stream(
        self, resp: web.StreamResponse, body: JSON, reply: _Reply, behaviour: Behaviour,
        fault: Fault | None,
    ) -> None:
        chunks = _stream_chunks(body["model"], reply, behaviour.chunks)
        if fault is not None and fault.kind == "empty":
            chunks = chunks[:1] + chunks[-1:]  # role, then finish with nothing in between
            chunks[-1]["choices"][0]["finish_reason"] = None
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        for i, chunk in enumerate(chunks):
            if fault is not None and fault.kind == "truncate" and i == len(chunks) // 2:
                await resp.write(b'data: {"id":"x","choic')  # cut mid-event
                return
            if fault is not None and fault.kind == "bad_event" and i == (fault.status % 2) * 2:
                # A well-formed frame with a nonsensical event: first (status even) or after
                # some content (status odd).
                await resp.write(b'data: {"choices": 7}\n\n')
            if fault is not None and fault.kind == "stall" and i == len(chunks) // 2:
                await self.hang.wait()
            if fault is not None and fault.kind == "midstream_error" and i == len(chunks) // 2:
                err = {"error": {"message": "upstream overloaded", "type": "server_error"}}
                await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
                return
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            if behaviour.chunk_delay_s:
                await asyncio.sleep(behaviour.chunk_delay_s)
        if include_usage:
            usage = {**_chunk_base(body["model"]), "choices": [], "usage": reply.usage}
            await resp.write(b"data: " + orjson.dumps(usage) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    tool_calls: list[JSON]
    usage: JSON


def _reply(body: JSON) -> _Reply:
    messages = body["messages"]
    last = messages[-1]
    said = _text(last.get("content"))
    prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    calls: list[JSON] = []
    if tools and choice != "none" and last.get("role") != "tool":
        chosen = tools
        if isinstance(choice, dict):
            chosen = [t for t in tools if t["function"]["name"] == choice["function"]["name"]]
        many = "parallel" in said and body.get("parallel_tool_calls") is not False
        for i, tool in enumerate(chosen[: 2 if many else 1]):
            calls.append({"id": f"call_{i}_{int(time.time() * 1000) % 100000}", "type": "function",
                          "function": {"name": tool["function"]["name"],
                                       "arguments": orjson.dumps(_arguments(tool)).decode()}})
    text = "" if calls else f"Hello from {body['model']}! You said: {said[:200]}"
    if last.get("role") == "tool":
        text = f"The tool said: {_text(last.get('content'))[:200]}"
    usage = {"prompt_tokens": prompt, "completion_tokens": len(text.split()) + 1,
             "total_tokens": prompt + len(text.split()) + 1}
    return _Reply(text, calls, usage)


def _arguments(tool: JSON) -> JSON:
    props = (tool["function"].get("parameters") or {}).get("properties") or {}
    return {name: ("Paris" if (p or {}).get("type", "string") == "string" else 1)
            for name, p in list(props.items())[:3]}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _chunk_base(model: str) -> JSON:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}


def _completion(model: str, reply: _Reply, body: JSON) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": reply.usage,
    }


def _stream_chunks(model: str, reply: _Reply, pieces: int) -> list[JSON]:
    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {**_chunk_base(model),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    words = reply.text.split(" ") if reply.text else []
    if pieces and words:
        size = max(1, len(words) // pieces)
        words = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    for i, word in enumerate(words):
        out.append(chunk({"content": word if i == 0 else " " + word}))
    for i, call in enumerate(reply.tool_calls):
        args = call["function"]["arguments"]
        half = len(args) // 2
        out.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"],
                                                       "arguments": ""}}]}))
        for part in (args[:half], args[half:]):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    return out


def validate_openai_request(body: Any) -> list[str]:
    """What a strict OpenAI-compatible server would reject in this body."""
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = []
    if not isinstance(body.get("model"), str):
        problems.append("model is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages must be a non-empty array"]
    call_ids: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            problems.append(f"messages[{i}] has no valid role")
            continue
        for call in m.get("tool_calls") or []:
            call_ids.add(call.get("id"))
            if not isinstance(call.get("function", {}).get("arguments"), str):
                problems.append(f"messages[{i}] tool call arguments must be a string")
        if m["role"] == "tool" and m.get("tool_call_id") not in call_ids:
            problems.append(f"messages[{i}] answers an unknown tool_call_id")
    for t in body.get("tools") or []:
        name = (t.get("function") or {}).get("name", "")
        if t.get("type") != "function" or not TOOL_NAME.match(name):
            problems.append(f"invalid tool definition {name!r}")
    for key in ("max_tokens", "max_completion_tokens"):
        if key in body and (not isinstance(body[key], int) or body[key] < 1):
            problems.append(f"{key} must be a positive integer")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        problems.append("temperature must be within [0, 2]")
    for key in ("thinking", "metadata", "system", "anthropic_version", "context_management"):
        if key in body:
            problems.append(f"unknown field {key!r}")
    return problems


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status=status)


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible upstream on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    parser.add_argument("--chaos", type=float, default=0.0, help="share of requests given a random fault")
    args = parser.parse_args()
    default = Behaviour(latency_s=args.latency_ms / 1000, chunk_delay_s=args.chunk_delay_ms / 1000)
    fake = FakeUpstream(default=default, chaos=args.chaos)
    web.run_app(fake.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
