"""Upstream error classification: an HTTP status, headers and body from any free provider become
one error of the router's tree, with the cooldown hint health needs (a minute limit cools, a daily
quota parks until the provider's reset, a wrong key or an ended free variant cools for long).

Provider shapes handled (providers.md sections 1.4 and 3): OpenRouter's `{"error":{code, message,
metadata}}` in both its older (`provider_name`/`raw`) and newer (`error_type`/`availability`)
forms; Gemini's array-wrapped google.rpc errors; Cerebras' and Mistral's unwrapped bodies;
Cloudflare's `{"success":false,"errors":[...]}` envelope; Groq's "try again in" hints."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from router.errors import (
    BadResponse,
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
_MESSAGE_LIMIT = 200

# ---- headers ------------------------------------------------------------------------------------


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names. Works for aiohttp's case-insensitive multidicts and plain
    dicts alike; the first of repeated headers wins."""
    result: dict[str, str] = {}
    for name, value in headers.items():
        result.setdefault(name.lower(), value)
    return result


# ---- durations and instants ---------------------------------------------------------------------

_UNIT_SECONDS: Mapping[str, float] = MappingProxyType(
    {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_duration(text: str) -> float | None:
    """Seconds from a Go-style duration ("1m30.5s", "12ms", "2h0m0s", as Groq and OpenAI send)
    or a bare number of seconds ("59.3", as Cerebras sends); None when it is neither."""
    value = text.strip()
    if _NUMBER.fullmatch(value):
        seconds = float(value)
    elif _DURATION.fullmatch(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _rfc3339(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def reset_epoch(value: str, now: float) -> float | None:
    """The instant a rate-limit reset header names. Providers disagree on the form: a duration
    from now (Groq "2m59.56s", Cerebras "33011.38"), epoch milliseconds (OpenRouter), epoch
    seconds, or an RFC 3339 time (Anthropic)."""
    text = value.strip()
    if _NUMBER.fullmatch(text):
        number = float(text)
        if number > 1e12:
            return number / 1000.0
        if number > 1e9:
            return number
    seconds = parse_duration(text)
    if seconds is not None:
        return now + seconds
    return _rfc3339(text)


def retry_after_seconds(value: str, now: float) -> float | None:
    """Retry-After: delay-seconds or an HTTP date."""
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


_FALLBACK_OFFSETS: Mapping[str, timezone] = MappingProxyType(
    # Standard time: without a tz database the quota is parked an hour long in summer, never short.
    {"America/Los_Angeles": timezone(timedelta(hours=-8))}
)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _FALLBACK_OFFSETS.get(name, UTC)


def next_midnight(now: float, tz_name: str = "UTC") -> float:
    """The epoch of the next midnight in `tz_name`, when daily quotas reset."""
    zone = _zone(tz_name)
    local = datetime.fromtimestamp(now, zone)
    tomorrow = (local + timedelta(days=1)).date()
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    return midnight.timestamp()


def _clamp(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_HINT_S)


# ---- bodies -------------------------------------------------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """What an error body says, whatever its provider's shape."""

    parsed: object  # the JSON as sent, None when the body is not JSON
    message: str = ""
    codes: frozenset[str] = frozenset()  # code, type, status, error_type, availability code
    metadata: Mapping[str, Any] = field(default_factory=dict)
    availability: Mapping[str, Any] = field(default_factory=dict)
    details: tuple[Mapping[str, Any], ...] = ()  # google.rpc details, the relayed body's included
    text: str = ""  # every message, relayed ones too, lower-cased, for phrase matching


def _error_object(parsed: object) -> dict[str, Any]:
    if isinstance(parsed, list):  # Gemini's compat endpoint wraps the error in an array
        parsed = next((e for e in parsed if isinstance(e, dict)), {})
    top = _dict(parsed)
    inner = top.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    errors = _list(top.get("errors"))  # Cloudflare's envelope
    if errors and isinstance(errors[0], dict):
        return errors[0]
    return top  # Cerebras and Mistral send the error object unwrapped


def parse_error_body(body: bytes) -> ErrorBody:
    try:
        parsed: object = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        text = body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()
        # An HTML page (a proxy's or Cloudflare's) says nothing a client could use.
        message = "" if text.startswith("<") else text
        return ErrorBody(parsed=None, message=message, text=message.lower())
    return error_body(parsed)


def error_body(parsed: object) -> ErrorBody:
    """What an already-decoded error body says."""
    error = _error_object(parsed)
    metadata = _dict(error.get("metadata"))
    availability = _dict(error.get("availability")) or _dict(_dict(parsed).get("availability"))
    # FastAPI-based servers (vLLM's router, Scaleway) say `detail` where others say `message`.
    said = error.get("message", error.get("detail"))
    message = said if isinstance(said, str) else ""
    codes = {
        str(v)
        for v in (
            error.get("code"),
            error.get("type"),
            error.get("status"),
            metadata.get("error_type"),
            metadata.get("provider_code"),
            availability.get("code"),
        )
        if isinstance(v, str | int) and not isinstance(v, bool)
    }
    details: list[Mapping[str, Any]] = [d for d in _list(error.get("details")) if isinstance(d, dict)]
    texts = [message]
    raw = metadata.get("raw")
    if isinstance(raw, str) and raw:
        # OpenRouter's older form relays the upstream's body as a string: its hints count too,
        # and its message says more than "Provider returned error".
        relayed = parse_error_body(raw.encode())
        details.extend(relayed.details)
        codes |= relayed.codes
        texts.append(relayed.text or raw)
        provider = metadata.get("provider_name")
        if relayed.message:
            source = f"{provider}: " if isinstance(provider, str) else ""
            message = f"{message} ({source}{relayed.message})" if message else relayed.message
    return ErrorBody(
        parsed=parsed,
        message=message,
        codes=frozenset(codes),
        metadata=metadata,
        availability=availability,
        details=tuple(details),
        text=" ".join(texts).lower(),
    )


_SECRET = re.compile(
    r"(?i:bearer\s+\S+)"
    r"|\b(?:sk-|gsk_|nvapi-|hf_|csk-|cpk_|AIza)[A-Za-z0-9_\-]{6,}"
    r"|\b[A-Za-z0-9_\-]{40,}\b"
)


def _readable(message: str) -> str:
    """One short line, with anything shaped like a key masked: some upstreams echo the key."""
    line = " ".join(_SECRET.sub("[redacted]", message).split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."


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
            for v in _list(d.get("violations"))
            if isinstance(v, dict)
        ]

    def is_google(self) -> bool:
        return any(
            str(d.get("@type", "")).startswith("type.googleapis.com/google.rpc.") for d in self.body.details
        )

    def label(self, what: str) -> str:
        upstream = _readable(self.body.message)
        return f"{self.status} {what}: {upstream}" if upstream else f"{self.status} {what}"


_GROQ_TRY_AGAIN = re.compile(r"try again in ((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+)")

# reset header -> the remaining header that says whether its bucket is the exhausted one
_RESET_PAIRS: tuple[tuple[str, str], ...] = (
    ("x-ratelimit-reset-requests", "x-ratelimit-remaining-requests"),
    ("x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"),
    ("x-ratelimit-reset-requests-day", "x-ratelimit-remaining-requests-day"),
    ("x-ratelimit-reset-tokens-minute", "x-ratelimit-remaining-tokens-minute"),
    ("x-ratelimit-reset", "x-ratelimit-remaining"),
    ("anthropic-ratelimit-requests-reset", "anthropic-ratelimit-requests-remaining"),
    ("anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-tokens-remaining"),
    ("anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-input-tokens-remaining"),
    ("anthropic-ratelimit-output-tokens-reset", "anthropic-ratelimit-output-tokens-remaining"),
)


def _header_delay(facts: _Facts) -> float | None:
    headers = facts.headers
    if "retry-after-ms" in headers:
        ms = parse_duration(headers["retry-after-ms"])
        if ms is not None:
            return ms / 1000.0
    if "retry-after" in headers:
        return retry_after_seconds(headers["retry-after"], facts.now)
    return None


def _body_delay(facts: _Facts) -> float | None:
    for detail in facts.body.details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = parse_duration(str(detail.get("retryDelay", "")))
            if delay is not None:
                return delay
    for source in (facts.body.availability, facts.body.metadata):
        value = source.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (seconds := parse_duration(value)) is not None:
            return seconds
    match = _GROQ_TRY_AGAIN.search(facts.body.text)
    return parse_duration(match.group(1)) if match else None


def _reset_delay(facts: _Facts) -> float | None:
    """From the x-ratelimit-reset-* families: the latest reset among the buckets that are empty
    (a request needs all of them), else the soonest one."""
    resets: list[tuple[float, bool]] = []
    for reset_name, remaining_name in _RESET_PAIRS:
        value = facts.headers.get(reset_name)
        when = reset_epoch(value, facts.now) if value else None
        if when is not None:
            resets.append((when - facts.now, facts.headers.get(remaining_name, "").strip() == "0"))
    empty = [d for d, exhausted in resets if exhausted]
    if empty:
        return max(empty)
    return min((d for d, _ in resets), default=None)


def retry_hint(facts: _Facts) -> float | None:
    """Seconds until a retry may succeed, first from the explicit headers, then body hints, then
    the reset headers; never negative."""
    for source in (_header_delay, _body_delay, _reset_delay):
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
    hint = _body_delay(facts) or _reset_delay(facts)
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
        retry_after_s=_clamp(_header_delay(facts)),
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


def _too_large(facts: _Facts) -> UpstreamError:
    # Groq answers 413 when one request's prompt plus max_tokens exceeds its TPM, and a backend
    # whose real context is shorter than listed (Cerebras' free tier) answers 400: another backend
    # may take the request, so fail over instead of relaying.
    return UpstreamClientError(
        facts.label("request over this upstream's size limit"), upstream_status=facts.status
    )


def _rate_limited(facts: _Facts) -> UpstreamError:
    return RateLimited(
        facts.label("rate limited"),
        upstream_status=facts.status,
        retry_after_s=retry_hint(facts),
        provider_wide=_openrouter_platform_limit(facts),
    )


def _server_error(facts: _Facts) -> UpstreamError:
    return UpstreamServerError(
        facts.label("upstream server error"),
        upstream_status=facts.status,
        retry_after_s=_clamp(_header_delay(facts)),
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
    _Rule(lambda f: f.status == 413 or _context_exceeded(f), _too_large),
    _Rule(lambda f: f.status == 429, _rate_limited),
    _Rule(lambda f: f.status == 408 or f.status >= 500, _server_error),
    _Rule(lambda f: f.status in {400, 422}, _rejected),
    _Rule(lambda f: True, _client_error),
)


def _merged_headers(headers: Mapping[str, str], body: ErrorBody) -> dict[str, str]:
    relayed = _dict(body.metadata.get("headers"))
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


def classify_stream_error(event: Mapping[str, Any], *, now: float | None = None) -> UpstreamError:
    """An error event inside a 200 stream: OpenRouter's chunk `{"error": {code, message, metadata}}`
    or Anthropic's `{"type": "error", "error": {type, message}}`. With no status to go on the answer
    is a StreamError."""
    moment = time.time() if now is None else now
    body = error_body(dict(event))
    code = _dict(event.get("error")).get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else None
    if status is None:
        status = next((_STREAM_STATUS[c] for c in sorted(body.codes) if c in _STREAM_STATUS), None)
    if status is None:
        return StreamError(f"stream error: {_readable(body.message) or 'no message'}")
    return _classify(status, {}, body, moment)


# ---- quota headers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quota:
    """What rate-limit headers say is left; None where a provider sends nothing."""

    requests_remaining: int | None = None
    requests_reset_epoch: float | None = None
    tokens_remaining: int | None = None
    tokens_reset_epoch: float | None = None
    day_remaining: int | None = None
    day_reset_epoch: float | None = None


# field -> headers that carry it, in preference order (OpenAI/Groq, Mistral, Cerebras,
# Anthropic, OpenRouter; SambaNova uses the OpenAI names plus the -day ones).
_COUNT_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "requests": (
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-req-minute",
            "anthropic-ratelimit-requests-remaining",
            "x-ratelimit-remaining",
        ),
        "tokens": (
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-remaining-tokens-minute",
            "anthropic-ratelimit-tokens-remaining",
            "anthropic-ratelimit-input-tokens-remaining",
        ),
        "day": ("x-ratelimit-remaining-requests-day",),
    }
)
_RESET_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "requests": (
            "x-ratelimit-reset-requests",
            "anthropic-ratelimit-requests-reset",
            "x-ratelimit-reset",
        ),
        "tokens": (
            "x-ratelimit-reset-tokens",
            "x-ratelimit-reset-tokens-minute",
            "anthropic-ratelimit-tokens-reset",
            "anthropic-ratelimit-input-tokens-reset",
        ),
        "day": ("x-ratelimit-reset-requests-day",),
    }
)


def _count(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return max(int(number), 0) if math.isfinite(number) else None


def quota_from_headers(headers: Mapping[str, str], now: float) -> Quota | None:
    """The remaining budget the headers of any answer report, or None when they report none."""
    names = lowered(headers)
    counts = {
        bucket: next((n for h in hs if h in names and (n := _count(names[h])) is not None), None)
        for bucket, hs in _COUNT_HEADERS.items()
    }
    resets = {
        bucket: next((t for h in hs if h in names and (t := reset_epoch(names[h], now)) is not None), None)
        for bucket, hs in _RESET_HEADERS.items()
    }
    if all(v is None for v in (*counts.values(), *resets.values())):
        return None
    return Quota(
        requests_remaining=counts["requests"],
        requests_reset_epoch=resets["requests"],
        tokens_remaining=counts["tokens"],
        tokens_reset_epoch=resets["tokens"],
        day_remaining=counts["day"],
        day_reset_epoch=resets["day"],
    )
