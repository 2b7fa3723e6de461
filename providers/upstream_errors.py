"""Upstream error classification: an HTTP status, headers and body from any free provider become
one error of the router's tree, with the cooldown hint health needs (a minute limit cools, a daily
quota parks until the provider's reset, a wrong key or an ended free variant cools for long).

The bodies' shapes are read in providers.error_bodies and the rate-limit signals in
providers.ratelimits; this module holds the rule table that decides on them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from providers.error_bodies import ErrorBody, error_body, parse_error_body, readable_message
from providers.json_shapes import as_dict, as_list
from providers.ratelimits import (
    body_delay,
    header_delay,
    lowered,
    next_midnight,
    reset_delay,
    reset_epoch,
    stated_tpm,
)
from router.errors import (
    BadResponse,
    OverTokenBudget,
    RateLimited,
    StreamError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRejected,
    UpstreamServerError,
)

# A key that is wrong or a balance that is spent does not fix itself within minutes.
LONG_COOLDOWN_S = 3600.0
# A model whose free variant ended stays out until discovery says otherwise.
GONE_COOLDOWN_S = 86400.0
# No hint is trusted beyond a week: a garbled header must not park a backend for years.
MAX_HINT_S = 7 * 86400.0


def _clamp(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_HINT_S)


# ---- facts a rule decides on --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    status: int
    headers: Mapping[str, str]  # lower-case names; OpenRouter's metadata.headers included
    body: ErrorBody
    now: float

    def has_code(self, *codes: str) -> bool:
        return not self.body.codes.isdisjoint(codes)

    def says(self, *phrases: str) -> bool:
        return any(p in self.body.text for p in phrases)

    def quota_ids(self) -> list[str]:
        return [
            str(v.get("quotaId", ""))
            for d in self.body.details
            for v in as_list(d.get("violations"))
            if isinstance(v, dict)
        ]

    def is_google(self) -> bool:
        return any(
            str(d.get("@type", "")).startswith("type.googleapis.com/google.rpc.") for d in self.body.details
        )

    def label(self, what: str) -> str:
        upstream = readable_message(self.body.message)
        return f"{self.status} {what}: {upstream}" if upstream else f"{self.status} {what}"


_DELAY_SOURCES: tuple[Callable[[_Facts], float | None], ...] = (
    lambda f: header_delay(f.headers, f.now),
    lambda f: body_delay(f.body),
    lambda f: reset_delay(f.headers, f.now),
)


def retry_hint(facts: _Facts) -> float | None:
    """Seconds until a retry may succeed, first from the explicit headers, then body hints, then
    the reset headers; never negative."""
    for source in _DELAY_SOURCES:
        delay = _clamp(source(facts))
        if delay is not None:
            return delay
    return None


# ---- rules --------------------------------------------------------------------------------------


def _daily(facts: _Facts, until: float, *, provider_wide: bool, what: str) -> RateLimited:
    until = facts.now + (_clamp(until - facts.now) or 0.0)
    stamp = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return RateLimited(
        facts.label(f"daily quota exhausted ({what}) until {stamp}"),
        upstream_status=facts.status,
        retry_after_s=until - facts.now,
        provider_wide=provider_wide,
        until_epoch=until,
    )


def _openrouter_daily(facts: _Facts) -> UpstreamError:
    # The free daily cap is per account and resets at UTC midnight; X-RateLimit-Reset says when
    # in epoch milliseconds, in the headers or relayed in metadata.headers.
    reset = facts.headers.get("x-ratelimit-reset")
    when = reset_epoch(reset, facts.now) if reset else None
    if when is None or when <= facts.now:
        when = next_midnight(facts.now, "UTC")
    return _daily(facts, when, provider_wide=True, what="OpenRouter free models")


def _cloudflare_daily(facts: _Facts) -> UpstreamError:
    return _daily(facts, next_midnight(facts.now, "UTC"), provider_wide=True, what="Cloudflare neurons")


def _gemini_daily(facts: _Facts) -> UpstreamError:
    # Google's retryDelay on a per-day quota is a few seconds and wrong: the quota returns at
    # Pacific midnight. The limit is per project and model, so the provider stays usable.
    return _daily(facts, next_midnight(facts.now, "America/Los_Angeles"), provider_wide=False, what="Gemini")


def _hinted_daily(facts: _Facts) -> UpstreamError:
    # Groq's and Cerebras' day buckets refill on a rolling window and say when, else UTC midnight.
    hint = body_delay(facts.body) or reset_delay(facts.headers, facts.now)
    until = facts.now + hint if hint else next_midnight(facts.now, "UTC")
    return _daily(facts, until, provider_wide=False, what="requests per day")


def _no_free_quota(facts: _Facts) -> UpstreamError:
    return UpstreamClientError(
        facts.label("no free quota for this model"),
        upstream_status=facts.status,
        retry_after_s=GONE_COOLDOWN_S,
    )


def _payment(facts: _Facts) -> UpstreamError:
    # A balance or credit belongs to the account, so every model of the provider is out.
    return UpstreamClientError(
        facts.label("payment required or credit spent"),
        upstream_status=facts.status,
        retry_after_s=LONG_COOLDOWN_S,
        provider_wide=True,
    )


def _overloaded(facts: _Facts) -> UpstreamError:
    return UpstreamServerError(
        facts.label("upstream overloaded"),
        upstream_status=facts.status,
        retry_after_s=_clamp(header_delay(facts.headers, facts.now)),
    )


_GONE_WHY: Mapping[str, str] = MappingProxyType(
    {
        "free_variant_ended": "free variant ended",
        "model_deprecated": "model deprecated",
        "no_endpoints": "no endpoints serve this model",
        "privacy_restricted": "privacy settings exclude every endpoint",
        "constraint_filtered": "no endpoint meets the routing constraints",
        "model_decommissioned": "model decommissioned",  # Groq, with a 400
        "model_not_found": "model not found",
    }
)


def _gone(facts: _Facts) -> UpstreamError:
    why = next((_GONE_WHY[c] for c in facts.body.codes if c in _GONE_WHY), "model not found")
    if facts.status == 410:
        why = "endpoint retired"
    return UpstreamClientError(facts.label(why), upstream_status=facts.status, retry_after_s=GONE_COOLDOWN_S)


def _moderated(facts: _Facts) -> UpstreamError:
    # The request was flagged, not the key: fail over without a long cooldown.
    return UpstreamClientError(facts.label("moderation flagged the request"), upstream_status=facts.status)


def _key_rejected(facts: _Facts) -> UpstreamError:
    return UpstreamClientError(
        facts.label("API key rejected"), upstream_status=facts.status, retry_after_s=LONG_COOLDOWN_S
    )


def _over_tpm(facts: _Facts) -> UpstreamError:
    # Groq answers 413 when one request's prompt plus declared max_tokens exceeds the model's
    # TPM: this request does not fit, the backend is fine for smaller ones. Its stated limit
    # becomes the backend's tpm, so the next request that large is not sent there.
    return OverTokenBudget(
        facts.label("request over this backend's tokens per minute"),
        upstream_status=facts.status,
        tpm_limit=stated_tpm(facts.body.text),
    )


def _too_large(facts: _Facts) -> UpstreamError:
    # A 413 for the body's size, and a backend whose real context is shorter than listed
    # (Cerebras' free tier) answers 400: another backend may take the request, so fail over
    # instead of relaying.
    return UpstreamClientError(
        facts.label("request over this upstream's size limit"), upstream_status=facts.status
    )


def _rate_limited(facts: _Facts) -> UpstreamError:
    return RateLimited(
        facts.label("rate limited"),
        upstream_status=facts.status,
        retry_after_s=retry_hint(facts),
        provider_wide=_openrouter_platform_limit(facts),
        tpm_limit=stated_tpm(facts.body.text),
    )


def _server_error(facts: _Facts) -> UpstreamError:
    return UpstreamServerError(
        facts.label("upstream server error"),
        upstream_status=facts.status,
        retry_after_s=_clamp(header_delay(facts.headers, facts.now)),
    )


def _rejected(facts: _Facts) -> UpstreamError:
    return UpstreamRejected(
        facts.label("upstream rejected the request"),
        upstream_status=facts.status,
        body=facts.body.parsed,
    )


def _client_error(facts: _Facts) -> UpstreamError:
    return UpstreamClientError(facts.label("upstream client error"), upstream_status=facts.status)


def _unexpected(facts: _Facts) -> UpstreamError:
    return BadResponse(facts.label("unexpected status"), upstream_status=facts.status)


def _openrouter_platform_limit(facts: _Facts) -> bool:
    """OpenRouter's own free-model limit covers the account; an upstream's 429 relayed through
    OpenRouter names the provider and covers only that model."""
    metadata = facts.body.metadata
    relayed = metadata.get("provider_name") is not None or "raw" in metadata or "provider_code" in metadata
    return facts.says("free-models-per-min") or (
        metadata.get("error_type") == "rate_limit_exceeded" and not relayed
    )


def _gemini_per_day(facts: _Facts) -> bool:
    return facts.status == 429 and any("PerDay" in q for q in facts.quota_ids())


def _day_bucket_empty(facts: _Facts) -> bool:
    return facts.status == 429 and facts.headers.get("x-ratelimit-remaining-requests-day", "").strip() == "0"


_CONTEXT_PHRASES = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceeds the context window",
    "prompt is too long",
    "reduce the length of the messages",
)


def _context_exceeded(facts: _Facts) -> bool:
    return facts.status in {400, 422} and (
        facts.has_code("context_length_exceeded") or facts.says(*_CONTEXT_PHRASES)
    )


def _key_invalid(facts: _Facts) -> bool:
    # Gemini answers a bad key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
    reasons = {str(d.get("reason", "")) for d in facts.body.details}
    return facts.status in {401, 403} or "API_KEY_INVALID" in reasons or facts.says("api key not valid")


@dataclass(frozen=True, slots=True)
class _Rule:
    applies: Callable[[_Facts], bool]
    build: Callable[[_Facts], UpstreamError]


# First match wins: body-specific quirks before the status defaults.
_RULES: tuple[_Rule, ...] = (
    _Rule(lambda f: f.status < 400, _unexpected),
    _Rule(lambda f: f.status == 402 or f.has_code("insufficient_quota", "payment_required"), _payment),
    _Rule(lambda f: f.has_code("4006", "3036"), _cloudflare_daily),
    _Rule(lambda f: f.says("free-models-per-day"), _openrouter_daily),
    _Rule(lambda f: f.status == 429 and f.says("limit: 0") and f.is_google(), _no_free_quota),
    _Rule(_gemini_per_day, _gemini_daily),
    _Rule(lambda f: f.says("requests per day (rpd)", "tokens per day (tpd)"), _hinted_daily),
    _Rule(_day_bucket_empty, _hinted_daily),
    _Rule(lambda f: f.has_code("queue_exceeded", "3040", "overloaded_error"), _overloaded),
    _Rule(lambda f: f.status in {404, 410} or f.has_code(*_GONE_WHY), _gone),
    _Rule(
        lambda f: f.status == 403 and ("reasons" in f.body.metadata or "flagged_input" in f.body.metadata),
        _moderated,
    ),
    _Rule(_key_invalid, _key_rejected),
    _Rule(lambda f: f.status == 413 and f.says("tokens per minute"), _over_tpm),
    _Rule(lambda f: f.status == 413 or _context_exceeded(f), _too_large),
    _Rule(lambda f: f.status == 429, _rate_limited),
    _Rule(lambda f: f.status == 408 or f.status >= 500, _server_error),
    _Rule(lambda f: f.status in {400, 422}, _rejected),
    _Rule(lambda f: True, _client_error),
)


def _merged_headers(headers: Mapping[str, str], body: ErrorBody) -> dict[str, str]:
    relayed = as_dict(body.metadata.get("headers"))
    merged = {str(k).lower(): str(v) for k, v in relayed.items()}
    merged.update(lowered(headers))  # the real headers win over the relayed copy
    return merged


def _classify(status: int, headers: Mapping[str, str], body: ErrorBody, now: float) -> UpstreamError:
    facts = _Facts(status, _merged_headers(headers, body), body, now)
    rule = next(r for r in _RULES if r.applies(facts))
    return rule.build(facts)


def classify(status: int, headers: Mapping[str, str], body: bytes, *, now: float) -> UpstreamError:
    """The router error for an upstream's error answer. The message is short and quotes the
    upstream's message (key-shaped strings masked), never a header."""
    return _classify(status, headers, parse_error_body(body), now)


# Mid-stream errors may carry a code word instead of a status.
_STREAM_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "rate_limit_exceeded": 429,
        "server": 502,
        "server_error": 502,
        "provider_error": 502,
        "overloaded": 529,
        "overloaded_error": 529,
        "timeout": 408,
        "payment_required": 402,
        # Anthropic's stream `error` event names only a type.
        "rate_limit_error": 429,
        "api_error": 500,
        "authentication_error": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "invalid_request_error": 400,
    }
)


def classify_stream_error(event: Mapping[str, Any], *, now: float) -> UpstreamError:
    """An error event inside a 200 stream: OpenRouter's chunk `{"error": {code, message, metadata}}`
    or Anthropic's `{"type": "error", "error": {type, message}}`. With no status to go on the answer
    is a StreamError."""
    body = error_body(dict(event))
    code = as_dict(event.get("error")).get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else None
    if status is None:
        status = next((_STREAM_STATUS[c] for c in sorted(body.codes) if c in _STREAM_STATUS), None)
    if status is None:
        return StreamError(f"stream error: {readable_message(body.message) or 'no message'}")
    return _classify(status, {}, body, now)
