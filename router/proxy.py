"""Forwarding one client request: plan -> capable backends -> healthy candidates -> strategy pick
-> provider call -> answer, failing over to another candidate on any failure before the first
byte reaches the client. After that, a failure ends the stream with the API's own error event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from router.budget import Budgets, Limits, Ticket, in_words
from router.call import Call
from router.clock import Clock
from router.errors import (
    AllFailed,
    BadResponse,
    NoCapableBackend,
    Overloaded,
    OverTokenBudget,
    StreamError,
    UpstreamError,
    UpstreamRejected,
    detached,
)
from router.health import HealthTracker
from router.metrics import Metrics
from router.pool import Target
from router.records import record
from router.redact import redact, redact_bytes
from router.request_ids import RequestIds
from router.runtime import Runtime
from router.token_ask import declared, least, most, token_estimate
from router.translate import ResponseContext, StreamTranslator
from router.types import JSON, Backend, FailureReason, Needs, Outcome
from router.upstream import Provider, UpstreamReply, UpstreamRequest
from router.wire import ClientApi, Translation, UpstreamApi, upstream_api

MIN_QUEUE_WAIT_S = 0.05  # never spin while waiting for a backend to recover
MAX_PREAMBLE_EVENTS = 256  # events without content before a stream counts as unusable
# Fields of the client's body that are the router's business, never the upstream's.
ROUTER_FIELDS = ("models",)
PASSED_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
# Called with the client's whole answer, and its JSON, before its last byte is sent (so that a
# follow-up naming it finds it): how an API that keeps answers (Responses `store`) keeps them.
Keep = Callable[[JSON, bytes], Awaitable[None]]


@record
class _Attempt:
    call: Call
    client: ClientApi
    upstream: UpstreamApi
    translation: Translation
    body: JSON
    needs: Needs
    target: Target
    backend: Backend
    provider: Provider
    client_headers: Mapping[str, str]
    secrets: tuple[str, ...]
    keep: Keep | None
    ticket: Ticket  # what its budgets granted it
    tokens: int  # the fewest tokens its budgets reserved for it (router.token_ask.least)


@dataclass(slots=True)
class _Progress:
    """What one request went through, across passes over its plan and waits."""

    tokens: int  # its token estimate: what token budgets reserve for it
    tried: set[str] = field(default_factory=set)  # distinct backends
    sent: dict[str, int] = field(default_factory=dict)  # attempts per target label
    unfit: set[str] = field(default_factory=set)  # backends whose tpm it can never fit

    @property
    def excluded(self) -> Collection[str]:
        return self.tried | self.unfit if self.unfit else self.tried


class Proxy:
    def __init__(
        self, health: HealthTracker, budgets: Budgets, metrics: Metrics, clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._health = health
        self._budgets = budgets
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep  # injected: tests move a fake clock instead of waiting
        self._answer_ids = RequestIds()  # ResponseContext.answer_id: no syscall per request

    async def serve(
        self, request: web.Request, runtime: Runtime, call: Call, body: JSON,
        client_headers: Mapping[str, str], keep: Keep | None = None,
    ) -> web.StreamResponse:
        needs = call.wire.analyse(body, request.headers.get("x-session-id"))
        call.stream = needs.stream
        plan = runtime.pool.plan(body.get("model"), body.get("models"))
        call.route = plan[0].label
        call.strategy = plan[0].strategy_name
        capable = runtime.pool.require_capable(plan, needs)
        deadline = self._clock.monotonic() + runtime.config.routing.max_queue_s
        progress = _Progress(token_estimate(needs, runtime.config.routing.min_output_tokens))
        last: UpstreamError | None = None
        everyone: list[Backend] = []  # only a request the first pass did not serve needs it
        while True:
            answer, failure = await self._try_plan(request, runtime, call, body, needs, plan,
                                                   capable, client_headers, progress, keep)
            if answer is not None:
                return answer
            everyone = everyone or [b for group in capable for b in group]
            last = failure or last
            # No backend is left to try right now. When an untried one recovers (cooldown,
            # budget) soon, wait for it rather than fail a request that could be served.
            waiting = [b for b in everyone if b.id not in progress.excluded]
            wait = self._soonest_recovery(waiting, needs, progress.tokens)
            room = any(progress.sent.get(t.label, 0) < t.max_attempts for t in plan)
            if not waiting or not room or self._clock.monotonic() + wait > deadline:
                break
            await self._sleep(max(wait, MIN_QUEUE_WAIT_S))
        if progress.unfit and all(b.id in progress.unfit for b in everyone):
            # A token budget (a tpd, or a limit stated in headers or a 413) it can never fit.
            short = self._budgets.too_small((b, least(b, needs, progress.tokens)) for b in everyone)
            raise NoCapableBackend(
                f"no backend of {plan[0].label!r} supports: {', '.join(short)} (the request is "
                f"about {progress.tokens} tokens, more than the {in_words(short)} of every "
                "backend that could take it)", param="model", code="no_capable_backend")
        if last is None:
            fit = [b for b in everyone if b.id not in progress.unfit]
            raise Overloaded(
                "every capable backend is cooling down or over budget; retry later",
                retry_after_s=self._soonest_recovery(fit, needs, progress.tokens,
                                                     self._budgets.retry_after),
            )
        raise AllFailed(
            f"all {call.attempts} backend(s) tried failed; last: {call.backend}: {last.message}",
            attempts=call.attempts,
        )

    async def _try_plan(
        self, request: web.Request, runtime: Runtime, call: Call, body: JSON, needs: Needs,
        plan: Sequence[Target], capable: list[tuple[Backend, ...]],
        client_headers: Mapping[str, str],
        progress: _Progress, keep: Keep | None,
    ) -> tuple[web.StreamResponse | None, UpstreamError | None]:
        """One pass over the plan: an answer, or the last failure (None: nothing was tried)."""
        last: UpstreamError | None = None
        sent = progress.sent
        for target, backends in zip(plan, capable, strict=True):
            # Read once per pass (it is O(backends)); a pick that cannot be used is dropped.
            candidates = self._health.candidates(backends, exclude=progress.excluded)
            while candidates and sent.get(target.label, 0) < target.max_attempts:
                chosen = target.strategy.pick(candidates, needs)
                backend = chosen.backend
                # An upstream counting declared output: as much as it would declare, or less.
                ticket = await self._budgets.reserve(
                    backend, least(backend, needs, progress.tokens), most(backend, needs))
                if ticket is None:
                    # Over a budget: another candidate takes it, without using an attempt.
                    if self._budgets.fits(backend, least(backend, needs, progress.tokens)):
                        self._metrics.failed(backend.id, FailureReason.BUDGET)
                    else:  # a stated tpm below its estimate: never, like too small a context
                        progress.unfit.add(backend.id)
                    candidates = [c for c in candidates if c is not chosen]
                    continue
                progress.tried.add(backend.id)
                sent[target.label] = sent.get(target.label, 0) + 1
                call.attempts += 1
                call.backend = backend.id
                self._metrics.selected(target.label, backend.id, target.strategy_name)
                if call.attempts > 1:
                    self._metrics.fell_back(call.route)
                attempt = _Attempt(call, call.wire, upstream_api(backend.api),
                                   call.wire.translation(backend.api), body, needs, target,
                                   backend, runtime.providers[backend.provider], client_headers,
                                   runtime.secrets, keep, ticket,
                                   least(backend, needs, progress.tokens))
                try:
                    return await self._attempt(request, attempt), None
                except UpstreamRejected as exc:
                    return self._relay_rejection(attempt, exc), None
                except UpstreamError as exc:
                    last = detached(exc)  # kept past this block: see detached()
                    self._failed(backend, exc)
                    if isinstance(exc, OverTokenBudget):
                        progress.unfit.add(backend.id)
                    # The failure may have cooled others too (a provider-wide limit).
                    candidates = self._health.candidates(backends, exclude=progress.excluded)
        return None, last

    def _soonest_recovery(self, backends: Sequence[Backend], needs: Needs, tokens: int,
                          budget_wait: Callable[[Backend, int], float] | None = None) -> float:
        """Seconds until the first of `backends` could take a request of `tokens`: its
        cooldown (or its running trial) and its budgets (`budget_wait`, else refill_in) both
        allow it."""
        refill = budget_wait or self._budgets.refill_in
        return min((max(self._health.wait_s(b), refill(b, least(b, needs, tokens)))
                    for b in backends), default=0.0)

    # -- one attempt -------------------------------------------------------------------------

    async def _attempt(self, request: web.Request, a: _Attempt) -> web.StreamResponse:
        translated = a.translation.request(dict(a.body))
        upstream_body = translated.body
        upstream_body["model"] = a.backend.model
        for name in ROUTER_FIELDS:
            upstream_body.pop(name, None)
        # The client's max_tokens is a ceiling, never a filter: forward what the backend has room for.
        room = max(a.backend.context_length - a.needs.prompt_tokens, 1)
        a.upstream.prepare(upstream_body, room, a.needs.stream)
        bound = declared(a.backend, a.needs, a.ticket.tokens)
        if bound is not None:  # an upstream that counts it: always what its budgets granted
            a.upstream.declare_output(upstream_body, bound)
        ctx = ResponseContext(
            served_model=a.backend.id,
            include_usage=a.client.wants_stream_usage(a.body),
            prompt_tokens=a.needs.prompt_tokens,
            tool_names=translated.tool_names,
            created=int(self._clock.wall()),
            answer_id=self._answer_ids(None),
            request=a.body,
        )
        started = self._clock.monotonic()
        self._metrics.inflight_change(a.backend.id, 1)
        self._health.begin(a.backend)
        delivered = False  # the upstream's answer came through whole (or ended by its own doing)
        try:
            reply = await a.provider.send(UpstreamRequest(
                a.backend, upstream_body, a.needs.stream,
                a.client_headers if a.client.api is a.backend.api else {},
            ))
            latency = self._clock.monotonic() - started
            self._metrics.first_byte(a.backend.id, latency)
            if reply.batches is None:
                if a.needs.stream:
                    raise BadResponse("the upstream answered a stream request without a stream")
                answer = await self._json_answer(a, reply, ctx, latency)
                delivered = True
                return answer
            streamed, delivered = await self._stream_answer(request, a, reply, ctx, latency)
            return streamed
        finally:
            self._health.end(a.backend)
            self._metrics.inflight_change(a.backend.id, -1)
            if a.ticket.tokens:
                await self._settle(a, delivered)

    async def _settle(self, a: _Attempt, delivered: bool) -> None:
        """Token budgets keep what the attempt really used: the usage its answer reported;
        with none reported, the estimate when the answer came through (a stream whose upstream
        never reports usage), nothing when it did not (failed, cancelled, the client gone)."""
        used = a.call.prompt_tokens + a.call.completion_tokens
        await self._budgets.settle(a.ticket, used if used or not delivered else None)

    async def _json_answer(
        self, a: _Attempt, reply: UpstreamReply, ctx: ResponseContext, latency: float
    ) -> web.Response:
        assert reply.json is not None
        self._succeeded(a, latency, reply.json, reply)
        body = a.translation.response(reply.json, ctx)
        encoded = orjson.dumps(body)
        if a.keep is not None:
            await a.keep(body, encoded)
        a.call.ttft_s = self._clock.monotonic() - a.call.started
        self._metrics.first_token(a.backend.id, a.call.ttft_s)
        return web.Response(
            body=encoded, status=200, content_type="application/json",
            headers=_answer_headers(a.call, reply.headers),
        )

    async def _stream_answer(
        self, request: web.Request, a: _Attempt, reply: UpstreamReply, ctx: ResponseContext,
        latency: float,
    ) -> tuple[web.StreamResponse, bool]:
        """The stream relayed, and whether it ran to its end (False: the client left first)."""
        assert reply.batches is not None
        batches = reply.batches
        preamble: list[JSON] = []
        try:
            # Commit to this backend only once something real has arrived: until then a
            # failure (429 in-band, empty stream, hang) can still go to another backend.
            async for batch in batches:
                preamble += batch
                if any(a.upstream.is_content(event) for event in batch):
                    break
                if len(preamble) >= MAX_PREAMBLE_EVENTS:
                    raise BadResponse("the upstream stream sent no content in its first events")
            else:
                raise BadResponse("the upstream stream ended before any content")
        except BaseException as exc:
            await reply.aclose()
            if isinstance(exc, Exception) and not isinstance(exc, UpstreamError):
                raise BadResponse("the upstream sent an unusable stream event") from None
            raise
        self._succeeded(a, latency, None, reply)
        translator = a.translation.stream(ctx)
        response = web.StreamResponse(status=200, headers={
            **_answer_headers(a.call, reply.headers), "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
        })
        delivered = False
        try:
            await response.prepare(request)
            # Frames translated but not yet written: what came before an event that breaks
            # the stream still reaches the client, ahead of the in-band error. One write per
            # upstream read, however many events it carried, made before the next read is
            # waited for; the last read's frames go out with the stream's end.
            frames: list[bytes] = []
            try:
                kept = False
                self._feed(a, translator, preamble, frames)
                if a.keep is not None:
                    kept = await self._keep(a, translator, kept)
                if not translator.done:
                    await response.write(b"".join(frames))
                    frames.clear()
                a.call.ttft_s = self._clock.monotonic() - a.call.started
                self._metrics.first_token(a.backend.id, a.call.ttft_s)
                # Once the last event is out, the client's stream ends now, not when the
                # upstream gets round to closing its connection (it may linger, and a client
                # that leaves first would be recorded as a 499).
                while not translator.done:
                    try:
                        batch = await anext(batches)
                    except StopAsyncIteration:
                        break
                    self._feed(a, translator, batch, frames)
                    if a.keep is not None:
                        kept = await self._keep(a, translator, kept)
                    if frames and not translator.done:
                        await response.write(b"".join(frames))
                        frames.clear()
                tail = [*frames, *translator.finish()]
                await self._keep(a, translator, kept)
            except ConnectionError:
                raise
            except Exception as exc:
                tail = self._in_band_failure(a, translator, frames, exc)
            delivered = True
            # Release the upstream first (its unread rest closes the connection): nothing of
            # it is waited for, and nothing is left open if the client leaves during the end.
            await reply.aclose()
            await response.write_eof(b"".join(tail))
        except ConnectionError:
            pass  # the client went away: nothing left to tell it
        finally:
            await reply.aclose()
        return response, delivered

    def _in_band_failure(self, a: _Attempt, translator: StreamTranslator, frames: list[bytes],
                         exc: Exception) -> list[bytes]:
        """After the first byte the status is sent: the stream ends with the API's in-band
        error. A function of its own so that no frame in `exc`'s traceback holds the error (a
        cycle that would keep the request alive until a collection)."""
        err = exc if isinstance(exc, UpstreamError) else StreamError(
            "the upstream sent an unusable stream event")
        self._failed(a.backend, err)
        a.call.error = err.reason.value
        return [*frames, *translator.fail(a.client.stream_failure_type,
                                          redact(err.message, a.secrets))]

    @staticmethod
    async def _keep(a: _Attempt, translator: StreamTranslator, kept: bool) -> bool:
        """Keep the answer once the translator has it whole, before its last frames go out."""
        if kept or a.keep is None or not translator.done:
            return kept
        answer = translator.answer
        if answer is not None:
            await a.keep(answer, orjson.dumps(answer))
        return True

    def _feed(self, a: _Attempt, translator: StreamTranslator, events: list[JSON],
              frames: list[bytes]) -> None:
        """Add the client's frames for `events` to `frames`; none past the translator's last."""
        usage, call = a.upstream.usage, a.call
        for event in events:
            counts = usage(event)
            if counts is not None:
                prompt, completion = counts
                call.prompt_tokens = max(call.prompt_tokens, prompt)
                call.completion_tokens = max(call.completion_tokens, completion)
            frames += translator.feed(event)
            if translator.done:
                break

    # -- outcomes ----------------------------------------------------------------------------

    def _succeeded(
        self, a: _Attempt, latency: float, body: JSON | None, reply: UpstreamReply
    ) -> None:
        self._health.record(Outcome(a.backend.id, ok=True, latency_s=latency), a.backend.provider)
        if reply.quota is not None:
            self._budgets.observe(a.backend.id, reply.quota, latency,
                                  a.ticket.tokens or a.tokens)
        if body is not None and (counts := a.upstream.usage(body)) is not None:
            a.call.prompt_tokens, a.call.completion_tokens = counts

    def _failed(self, backend: Backend, exc: UpstreamError) -> None:
        self._metrics.failed(backend.id, exc.reason)
        if exc.tpm_limit is not None:  # Groq states the model's limit in its 413 and 429 bodies
            self._budgets.learn(backend.id, Limits(tpm=exc.tpm_limit))
        if isinstance(exc, OverTokenBudget):
            return  # this request's size, not the backend's health: nothing cools, no score drops
        self._health.record(Outcome(
            backend.id, ok=False, reason=exc.reason, retry_after_s=exc.retry_after_s,
            provider_wide=exc.provider_wide, until_epoch=exc.until_epoch,
        ), backend.provider)

    def _relay_rejection(self, a: _Attempt, exc: UpstreamRejected) -> web.Response:
        """The upstream called the request itself invalid: the client gets that answer."""
        a.call.error = "invalid_request_error"
        if isinstance(exc.body, dict):
            body = a.translation.error(exc.body)
        else:
            body = a.client.error_body("invalid_request_error", exc.message)
        return web.Response(body=redact_bytes(orjson.dumps(body), a.secrets), status=exc.status,
                            content_type="application/json", headers=_answer_headers(a.call))


def _answer_headers(call: Call, upstream: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {
        "x-freerouter-backend": call.backend or "",
        "x-freerouter-attempts": str(call.attempts),
        "x-request-id": call.request_id,
    }
    if upstream:
        # The documented allow-list: rate-limit state and the upstream's request id. Nothing
        # else of the upstream's (cookies, server, hop-by-hop headers) reaches the client.
        for name, value in upstream.items():
            lower = name.lower()
            if lower.startswith(PASSED_PREFIXES):
                headers[lower] = value
            elif lower in ("x-request-id", "request-id"):
                headers["x-upstream-request-id"] = value
    return headers
