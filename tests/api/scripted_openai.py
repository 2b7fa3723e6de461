"""An OpenAI-API fake that plays an agent's part for a real client: asked with tools, it calls
one chosen tool with chosen arguments; given the tool's result, it answers with that result's
text. Optionally it breaks its first stream after the first content chunk, to drive a client's
fallback. Every request is checked with the same validator as the demo's OpenAI fake."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from router.demo.upstream import Received, validate_openai_request

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolPlan:
    name: str
    arguments: JSON


@dataclass(slots=True)
class ScriptedOpenAI:
    plan: ToolPlan
    break_first_stream: bool = False
    received: list[Received] = field(default_factory=list)
    broken: int = 0  # streams broken so far
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/chat/completions")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    def _message(self, body: JSON) -> JSON:
        last = body["messages"][-1]
        offered = {t["function"]["name"] for t in body.get("tools") or []}
        if last["role"] == "tool":
            return {"role": "assistant", "content": f"The tool returned: {last['content']}"}
        if self.plan.name in offered:
            call = {"id": f"call_{next(self._ids)}", "type": "function",
                    "function": {"name": self.plan.name,
                                 "arguments": orjson.dumps(self.plan.arguments).decode()}}
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"role": "assistant", "content": "Nothing to do."}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        problems = validate_openai_request(body)
        self.received.append(Received(request.path, dict(request.headers), body, problems))
        if problems:
            return web.json_response({"error": {"message": "; ".join(problems),
                                                "type": "invalid_request_error"}}, status=400)
        message = self._message(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        if not body.get("stream"):
            return web.json_response({
                "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
                "model": body["model"], "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in _chunks(body["model"], message, finish):
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            if self.break_first_stream and not self.broken:
                self.broken += 1
                err = {"error": {"message": "upstream overloaded", "type": "server_error"}}
                await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
                return resp
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(b"data: " + orjson.dumps(
                {**_base(body["model"]), "choices": [], "usage": usage}) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp


def _base(model: str) -> JSON:
    return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
            "model": model}


def _chunks(model: str, message: JSON, finish: str) -> list[JSON]:
    def chunk(delta: JSON, reason: str | None = None) -> JSON:
        return {**_base(model), "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

    out = []
    if message.get("content"):
        out.append(chunk({"role": "assistant", "content": message["content"]}))
    for i, call in enumerate(message.get("tool_calls") or []):
        args = call["function"]["arguments"]
        out.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                          "function": {"name": call["function"]["name"],
                                                       "arguments": args[:5]}}]}))
        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[5:]}}]}))
    out.append(chunk({}, finish))
    return out
