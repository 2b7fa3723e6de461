"""Rate-limit signals from any free provider: Go-style durations and bare seconds, RFC 3339 and
HTTP-date instants, Retry-After and retry-after-ms, the x-ratelimit-* / anthropic-ratelimit-* /
Cerebras reset and remaining families, body hints (google.rpc.RetryInfo, OpenRouter's
retry_after, Groq's "try again in", the tokens per minute Groq's errors state), the next midnight
a daily quota resets at, and the remaining budget (`Quota`) the headers of any answer report."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from providers.error_bodies import ErrorBody
from router.upstream import Quota

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


# ---- retry delays -------------------------------------------------------------------------------

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


def header_delay(headers: Mapping[str, str], now: float) -> float | None:
    """From retry-after-ms, else Retry-After; `headers` has lower-case names."""
    if "retry-after-ms" in headers:
        ms = parse_duration(headers["retry-after-ms"])
        if ms is not None:
            return ms / 1000.0
    if "retry-after" in headers:
        return retry_after_seconds(headers["retry-after"], now)
    return None


def body_delay(body: ErrorBody) -> float | None:
    """From the hints an error body carries: google.rpc.RetryInfo, a retry_after in OpenRouter's
    availability or metadata, Groq's "try again in"."""
    for detail in body.details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = parse_duration(str(detail.get("retryDelay", "")))
            if delay is not None:
                return delay
    for source in (body.availability, body.metadata):
        value = source.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (seconds := parse_duration(value)) is not None:
            return seconds
    match = _GROQ_TRY_AGAIN.search(body.text)
    return parse_duration(match.group(1)) if match else None


# Groq's 413 and 429 bodies state the model's limit: "... on tokens per minute (TPM): Limit 8000,
# Requested 12000 ..." (matched on the lower-cased text).
_STATED_TPM = re.compile(r"tokens per minute \(tpm\): limit (\d+)")


def stated_tpm(text: str) -> int | None:
    """The tokens-per-minute limit an error message states, if it states one."""
    match = _STATED_TPM.search(text)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def reset_delay(headers: Mapping[str, str], now: float) -> float | None:
    """From the x-ratelimit-reset-* families: the latest reset among the buckets that are empty
    (a request needs all of them), else the soonest one. `headers` has lower-case names."""
    resets: list[tuple[float, bool]] = []
    for reset_name, remaining_name in _RESET_PAIRS:
        value = headers.get(reset_name)
        when = reset_epoch(value, now) if value else None
        if when is not None:
            resets.append((when - now, headers.get(remaining_name, "").strip() == "0"))
    empty = [d for d, exhausted in resets if exhausted]
    if empty:
        return max(empty)
    return min((d for d, _ in resets), default=None)


# ---- quota headers ------------------------------------------------------------------------------


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
# field -> headers that state the limit a remaining count counts down from
_LIMIT_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "requests": (
            "x-ratelimit-limit-requests",
            "x-ratelimit-limit-req-minute",
            "anthropic-ratelimit-requests-limit",
            "x-ratelimit-limit",
        ),
        "tokens": (
            "x-ratelimit-limit-tokens",
            "x-ratelimit-limit-tokens-minute",
            "anthropic-ratelimit-tokens-limit",
            "anthropic-ratelimit-input-tokens-limit",
        ),
        "day": ("x-ratelimit-limit-requests-day",),
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


# Every name in the three tables above starts with one of these.
_QUOTA_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def _count(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return max(int(number), 0) if math.isfinite(number) else None


def quota_from_headers(headers: Mapping[str, str], now: float) -> Quota | None:
    """The remaining budget the headers of any answer report, or None when they report none."""
    # Read on every answer: only the rate-limit headers are lowered and looked at.
    names: dict[str, str] = {}
    for name, value in headers.items():
        if name[:1] in "xXaA" and (lower := name.lower()).startswith(_QUOTA_PREFIXES):
            names.setdefault(lower, value)
    if not names:
        return None
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
    limits = {
        bucket: next((n for h in hs if h in names and (n := _count(names[h])) is not None), None)
        for bucket, hs in _LIMIT_HEADERS.items()
    }
    return Quota(
        requests_remaining=counts["requests"],
        requests_reset_epoch=resets["requests"],
        tokens_remaining=counts["tokens"],
        tokens_reset_epoch=resets["tokens"],
        day_remaining=counts["day"],
        day_reset_epoch=resets["day"],
        requests_limit=limits["requests"],
        day_limit=limits["day"],
        tokens_limit=limits["tokens"],
    )
