"""A fake OpenAI-compatible upstream: a real loopback HTTP server used by `freerouter demo` and by
the tests. Each model has a behaviour (latency, pacing, failure rate, reasoning, lingering after
its stream); its answers are a simulated model's (router.demo.replies: structured outputs, tool
calls that fit the tool's schema, images described, exact usage). Tests script faults one
request at a time (429 with Retry-After, 5xx, hangs, garbage, truncated streams, empty answers)
and read back every request it received, checked against the OpenAI wire format.

Run alone: `python -m router.demo.upstream --port 9000` (OpenAI API at http://127.0.0.1:9000/v1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Mapping
from itertools import count

import orjson
from aiohttp import web

from router.demo import openai_reply
from router.demo.openai_validation import validate_openai_request
from router.demo.replies import Reply, compose
from router.demo.scripted import Behaviour, Fault, Received, ScriptedUpstream
from router.demo.token_limits import Refusal
from router.types import JSON


class FakeUpstream(ScriptedUpstream):
    _ids = count(1)  # shared by every instance: ids stay unique across fakes too

    @property
    def chat_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/chat/completions")]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/__stats", self._stats)
        return app

    def error_response(self, status: int, message: str) -> web.Response:
        return _error(status, "server_error", message)

    def fault_body(self, status: int) -> bytes:
        return orjson.dumps({"error": {"message": f"injected {status}", "type": "server_error"}})

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
        behaviour = self.behaviour(model)
        fault = self._next_fault(model)
        ask = openai_reply.ask_of(body, behaviour)
        minute = self.token_minute(model)
        charge = None
        if minute is not None and fault is None:  # counted as it arrives, as Groq does
            admitted = minute.admit(ask.prompt_tokens, body)
            if isinstance(admitted, Refusal):
                return web.Response(status=admitted.status, body=admitted.body,
                                    headers=admitted.headers, content_type="application/json")
            charge = admitted
        used = 0  # what the charge becomes once answered: nothing, unless an answer goes out
        try:
            if behaviour.latency_s:
                await asyncio.sleep(behaviour.latency_s)
            if fault is None and behaviour.failure_rate and self.rng.random() < behaviour.failure_rate:
                fault = Fault(status=500)
            if fault is not None and (early := await self._early_fault(fault)) is not None:
                return early
            serial = f"{next(self._ids):06d}"
            reply = compose(ask, serial, self.tool_inputs)
            used = reply.prompt_tokens + reply.completion_tokens
            completion_id, created = f"chatcmpl-fake{serial}", int(time.time())
            if body.get("stream"):
                base = openai_reply.chunk_base(completion_id, created, model)
                limits = minute.headers() if minute is not None else {}
                return await self._stream(request, body, base, reply, behaviour, fault, limits)
            completion = openai_reply.completion(completion_id, created, model, reply)
            if not behaviour.reports_usage:
                del completion["usage"]
            if fault is not None and fault.kind == "empty":
                completion["choices"][0]["message"] = {"role": "assistant", "content": ""}
            if minute is not None and charge is not None:
                minute.settle(charge, used)  # before the headers say what is left
            return web.json_response(completion, headers={
                "x-ratelimit-remaining-requests": "99", "x-request-id": "req_fake",
                "set-cookie": "upstream-session=1",
                **(minute.headers() if minute is not None else {})})
        finally:
            if minute is not None and charge is not None:
                minute.settle(charge, used)

    async def _stream(
        self, request: web.Request, body: JSON, base: JSON, reply: Reply, behaviour: Behaviour,
        fault: Fault | None, limits: Mapping[str, str],
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **limits})
        await resp.prepare(request)
        # The router may hang up (its client left, or it timed out): nothing to do then.
        with contextlib.suppress(ConnectionError):
            if await self._write_stream(resp, body, base, reply, behaviour, fault):
                await self._linger(request, behaviour)
                await resp.write_eof()
        return resp

    async def _write_stream(
        self, resp: web.StreamResponse, body: JSON, base: JSON, reply: Reply, behaviour: Behaviour,
        fault: Fault | None,
    ) -> bool:
        """Write the stream; False when a fault cut it short (the connection then just ends)."""
        chunks = openai_reply.chunks(base, reply, behaviour.chunks)
        if fault is not None and fault.kind == "empty":
            chunks = chunks[:1] + chunks[-1:]  # role, then finish with nothing in between
            chunks[-1]["choices"][0]["finish_reason"] = None
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        for i, chunk in enumerate(chunks):
            if fault is not None and fault.kind == "truncate" and i == len(chunks) // 2:
                await resp.write(b'data: {"id":"x","choic')  # cut mid-event
                return False
            if fault is not None and fault.kind == "bad_event" and i == (fault.status % 2) * 2:
                # A well-formed frame with a nonsensical event: first (status even) or after
                # some content (status odd).
                await resp.write(b'data: {"choices": 7}\n\n')
            if fault is not None and fault.kind == "stall" and i == len(chunks) // 2:
                await self.hang.wait()
            if fault is not None and fault.kind == "midstream_error" and i == len(chunks) // 2:
                err = {"error": {"message": "upstream overloaded", "type": "server_error"}}
                await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
                return False
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await self._pace(behaviour)
        if include_usage and behaviour.reports_usage:
            usage = {**base, "choices": [], "usage": openai_reply.usage(reply)}
            await resp.write(b"data: " + orjson.dumps(usage) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return True


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
