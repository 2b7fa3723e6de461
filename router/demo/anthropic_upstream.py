"""A fake Anthropic Messages upstream: the Anthropic-API twin of router.demo.upstream, used by
`freerouter demo` and the tests. It answers POST /v1/messages (JSON and SSE) as a simulated model
(router.demo.replies: thinking with signatures, structured outputs, tool_use that fits the
tool's schema, parallel tool use when the user says "parallel") and GET /v1/models, takes the
same scripted Faults, and records every request with what a strict Anthropic API would reject
in it (router.demo.anthropic_validation).

Run alone: `python -m router.demo.anthropic_upstream --port 9100`
(base_url http://127.0.0.1:9100/v1).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from itertools import count

import orjson
from aiohttp import web

from router.demo import anthropic_reply
from router.demo.anthropic_validation import validate_anthropic_request
from router.demo.replies import Reply, compose
from router.demo.scripted import Behaviour, Fault, Received, ScriptedUpstream
from router.types import JSON


class FakeAnthropicUpstream(ScriptedUpstream):
    _ids = count(1)  # shared by every instance: ids stay unique across fakes too

    @property
    def message_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/messages")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        return app

    def error_response(self, status: int, message: str) -> web.Response:
        return error_response(status, _ERROR_TYPES.get(status, "api_error"), message)

    def fault_body(self, status: int) -> bytes:
        return orjson.dumps(_error_body(_ERROR_TYPES.get(status, "api_error"), f"injected {status}"))

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
        behaviour = self.behaviour(model)
        fault = self._next_fault(model)
        if behaviour.latency_s:
            await asyncio.sleep(behaviour.latency_s)
        if fault is None and behaviour.failure_rate and self.rng.random() < behaviour.failure_rate:
            fault = Fault(status=529, body=orjson.dumps(_error_body("overloaded_error", "Overloaded")))
        if fault is not None and (early := await self._early_fault(fault)) is not None:
            return early
        serial = f"{next(self._ids):06d}"
        reply = compose(anthropic_reply.ask_of(body), serial, self.tool_inputs)
        message = anthropic_reply.message(f"msg_fake{serial}", model, reply)
        if fault is not None and fault.kind == "empty":
            message["content"] = []
        if body.get("stream"):
            return await self._stream(request, message, reply, behaviour, fault)
        return web.json_response(message, headers={
            "request-id": "req_fake", "anthropic-ratelimit-requests-remaining": "99"})

    async def _stream(
        self, request: web.Request, message: JSON, reply: Reply, behaviour: Behaviour,
        fault: Fault | None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "request-id": "req_fake"})
        await resp.prepare(request)
        events = anthropic_reply.stream_events(message, reply, behaviour.chunks)
        # Faults strike after the first content, before any block is complete (a stream
        # without content: half-way)
        strike = next((i + 1 for i, e in enumerate(events) if e["type"] == "content_block_delta"),
                      len(events) // 2)
        try:
            for i, event in enumerate(events):
                if fault is not None and i == strike:
                    if fault.kind == "truncate":
                        await resp.write(b'event: content_block_delta\ndata: {"type":"conte')
                        return resp
                    if fault.kind == "midstream_error":
                        await resp.write(sse_frame(_error_body("overloaded_error", "Overloaded")))
                        return resp
                await resp.write(sse_frame(event))
                if event["type"] != "ping":
                    await self._pace(behaviour)
            await self._linger(request, behaviour)
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
