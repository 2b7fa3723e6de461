"""Upstream error classification against the documented error shapes of each free provider
(../shared/reference/providers.md sections 1.4 and 3)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from providers.ratelimits import (
    _COUNT_HEADERS,
    _LIMIT_HEADERS,
    _QUOTA_PREFIXES,
    _RESET_HEADERS,
    next_midnight,
    parse_duration,
    quota_from_headers,
    reset_epoch,
)
from providers.upstream_errors import (
    GONE_COOLDOWN_S,
    LONG_COOLDOWN_S,
    MAX_HINT_S,
    classify,
    classify_stream_error,
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
from router.types import FailureReason
from router.upstream import Quota

# 2026-11-22 10:00:00 UTC (02:00 in Los Angeles, PST)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
NEXT_UTC_MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
NEXT_PACIFIC_MIDNIGHT = datetime(2026, 11, 23, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


# ---- OpenRouter ---------------------------------------------------------------------------------


def test_openrouter_platform_per_minute_limit_is_account_wide() -> None:
    reset_ms = int((NOW + 42) * 1000)
    error = classify(
        429,
        {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)},
        body(
            {
                "error": {
                    "code": 429,
                    "message": "Rate limit exceeded: free-models-per-min. ",
                    "metadata": {"error_type": "rate_limit_exceeded"},
                }
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.reason is FailureReason.RATE_LIMITED
    assert error.provider_wide
    assert error.until_epoch is None
    assert error.retry_after_s == pytest.approx(42, abs=0.01)


def test_openrouter_free_daily_cap_parks_the_account_until_the_relayed_reset() -> None:
    reset_ms = int(NEXT_UTC_MIDNIGHT * 1000)
    error = classify(
        429,
        {},
        body(
            {
                "error": {
                    "code": 429,
                    "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to "
                    "unlock 1000 free model requests per day",
                    "metadata": {
                        "headers": {
                            "X-RateLimit-Limit": "50",
                            "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(reset_ms),
                        },
                        "provider_name": None,
                    },
                }
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.provider_wide
    assert error.until_epoch == pytest.approx(NEXT_UTC_MIDNIGHT)
    assert error.retry_after_s == pytest.approx(14 * 3600)
    assert "daily" in error.message


def test_openrouter_daily_cap_without_reset_header_parks_until_utc_midnight() -> None:
    error = classify(
        429,
        {},
        body({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day"}}),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.until_epoch == NEXT_UTC_MIDNIGHT


def test_openrouter_relayed_upstream_429_older_form_is_per_model() -> None:
    error = classify(
        429,
        {},
        body(
            {
                "error": {
                    "message": "Provider returned error",
                    "code": 429,
                    "metadata": {
                        "provider_name": "Venice",
                        "raw": "qwen/qwen3-coder:free is temporarily rate-limited upstream. "
                        "Please retry shortly.",
                        "isDownstreamPipeClean": True,
                        "isErrorUpstreamFault": True,
                    },
                },
                "user_id": "user_123",
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert not error.provider_wide
    assert error.until_epoch is None
    assert "Venice: qwen/qwen3-coder:free is temporarily rate-limited upstream" in error.message


def test_openrouter_relayed_google_body_yields_its_retry_delay() -> None:
    raw = json.dumps(
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}],
            }
        }
    )
    error = classify(
        429,
        {},
        body(
            {
                "error": {
                    "message": "Provider returned error",
                    "code": 429,
                    "metadata": {"provider_name": "Google AI Studio", "raw": raw},
                }
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 23
    assert not error.provider_wide


def test_openrouter_availability_capacity_exhausted_uses_retry_after() -> None:
    error = classify(
        429,
        {},
        body(
            {
                "error": {
                    "code": 429,
                    "message": "Capacity exhausted for this model",
                    "metadata": {"error_type": "provider_error", "provider_code": "429"},
                    "availability": {
                        "code": "capacity_exhausted",
                        "retryable": True,
                        "retry_after": 30,
                        "requested_models": ["openai/gpt-oss-20b:free"],
                    },
                }
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 30
    assert not error.provider_wide


def test_openrouter_free_variant_ended_takes_the_model_out() -> None:
    error = classify(
        404,
        {},
        body(
            {
                "error": {
                    "code": 404,
                    "message": "The free variant of this model is no longer available",
                    "availability": {
                        "code": "free_variant_ended",
                        "retryable": False,
                        "fallback_models": ["qwen/qwen3-coder"],
                    },
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.reason is FailureReason.CLIENT_ERROR
    assert error.retry_after_s == GONE_COOLDOWN_S
    assert "free variant ended" in error.message


def test_openrouter_privacy_restricted_names_the_cause() -> None:
    error = classify(
        404,
        {},
        body(
            {
                "error": {
                    "code": 404,
                    "message": "No endpoints available matching your data policy",
                    "availability": {"code": "privacy_restricted", "retryable": False},
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert "privacy" in error.message


def test_openrouter_negative_balance_402_even_on_free_models() -> None:
    error = classify(
        402,
        {},
        body(
            {
                "error": {
                    "code": 402,
                    "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
                    "metadata": {"error_type": "payment_required"},
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == LONG_COOLDOWN_S
    assert error.upstream_status == 402
    assert error.provider_wide  # the balance is the account's


def test_openrouter_moderation_403_fails_over_without_long_cooldown() -> None:
    error = classify(
        403,
        {},
        body(
            {
                "error": {
                    "code": 403,
                    "message": "Input was flagged",
                    "metadata": {
                        "reasons": ["violence"],
                        "flagged_input": "...",
                        "provider_name": "OpenAI",
                        "model_slug": "openai/gpt-oss-20b",
                    },
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s is None
    assert "moderation" in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_wrong_key_cools_down_for_long(status: int) -> None:
    error = classify(
        status, {}, body({"error": {"code": status, "message": "No auth credentials found"}}), now=NOW
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == LONG_COOLDOWN_S
    assert "key" in error.message


def test_openrouter_502_provider_error_is_server_error() -> None:
    error = classify(
        502,
        {},
        body(
            {
                "error": {
                    "code": 502,
                    "message": "Provider returned error",
                    "metadata": {"error_type": "server"},
                }
            }
        ),
        now=NOW,
    )
    assert isinstance(error, UpstreamServerError)
    assert error.reason is FailureReason.SERVER_ERROR


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 529])
def test_timeouts_and_5xx_are_server_errors(status: int) -> None:
    error = classify(status, {}, b"", now=NOW)
    assert isinstance(error, UpstreamServerError)
    assert error.upstream_status == status


def test_503_keeps_retry_after() -> None:
    error = classify(503, {"Retry-After": "7"}, b"Service Unavailable", now=NOW)
    assert isinstance(error, UpstreamServerError)
    assert error.retry_after_s == 7


def test_html_error_page_is_not_quoted() -> None:
    error = classify(502, {}, b"<html><body><h1>502 Bad Gateway</h1></body></html>", now=NOW)
    assert isinstance(error, UpstreamServerError)
    assert "<" not in error.message


# ---- Gemini -------------------------------------------------------------------------------------


def gemini_429(quota_id: str, message: str, retry_delay: str = "47s") -> bytes:
    return body(
        [
            {
                "error": {
                    "code": 429,
                    "message": message,
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [
                                {
                                    "quotaMetric": "generativelanguage.googleapis.com/"
                                    "generate_content_free_tier_requests",
                                    "quotaId": quota_id,
                                    "quotaDimensions": {
                                        "location": "global",
                                        "model": "gemini-2.5-flash",
                                    },
                                    "quotaValue": "5",
                                }
                            ],
                        },
                        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
                        {
                            "@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": retry_delay,
                        },
                    ],
                }
            }
        ]
    )


def test_gemini_per_minute_quota_cools_for_its_retry_delay() -> None:
    error = classify(
        429,
        {},
        gemini_429(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "You exceeded your current quota. Please retry in 47.2s.",
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 47
    assert error.until_epoch is None
    assert not error.provider_wide


def test_gemini_per_day_quota_parks_until_pacific_midnight() -> None:
    error = classify(
        429,
        {},
        gemini_429(
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "You exceeded your current quota. Quota exceeded for metric: generativelanguage."
            "googleapis.com/generate_content_free_tier_requests, limit: 20, model: gemini-2.5-flash",
            retry_delay="5s",
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.until_epoch == NEXT_PACIFIC_MIDNIGHT
    assert not error.provider_wide  # per project and model
    local = datetime.fromtimestamp(error.until_epoch, ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute) == (0, 0)


def test_gemini_limit_zero_means_no_free_tier() -> None:
    error = classify(
        429,
        {},
        gemini_429(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "Quota exceeded for metric: generativelanguage.googleapis.com/"
            "generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro",
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == GONE_COOLDOWN_S


def test_gemini_bad_key_400_is_a_key_problem_not_a_rejected_request() -> None:
    error = classify(
        400,
        {},
        body(
            [
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "API_KEY_INVALID",
                                "domain": "googleapis.com",
                            }
                        ],
                    }
                }
            ]
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == LONG_COOLDOWN_S


def test_gemini_unknown_field_400_is_relayed_with_its_body() -> None:
    payload = [
        {
            "error": {
                "code": 400,
                "message": 'Invalid JSON payload received. Unknown name "web_search_options": '
                "Cannot find field.",
                "status": "INVALID_ARGUMENT",
            }
        }
    ]
    error = classify(400, {}, body(payload), now=NOW)
    assert isinstance(error, UpstreamRejected)
    assert error.status == 400
    assert error.body == payload
    assert "Unknown name" in error.message


# ---- Groq ---------------------------------------------------------------------------------------

GROQ_TPM = {
    "error": {
        "message": "Rate limit reached for model `openai/gpt-oss-20b` in organization `org_01` "
        "service tier `on_demand` on tokens per minute (TPM): Limit 8000, Used 7000, "
        "Requested 1500. Please try again in 3.5s. Need more tokens? Upgrade to Dev Tier.",
        "type": "tokens",
        "code": "rate_limit_exceeded",
    }
}


def test_groq_retry_after_header_wins_over_the_body_hint() -> None:
    error = classify(429, {"retry-after": "4"}, body(GROQ_TPM), now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 4


def test_groq_body_hint_without_header() -> None:
    error = classify(429, {}, body(GROQ_TPM), now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 3.5
    assert error.until_epoch is None


def test_groq_requests_per_day_parks_until_the_hinted_time() -> None:
    message = (
        "Rate limit reached for model `openai/gpt-oss-120b` in organization `org_01` service tier "
        "`on_demand` on requests per day (RPD): Limit 1000, Used 1000, Requested 1. "
        "Please try again in 1m26.4s."
    )
    error = classify(
        429,
        {"retry-after": "87"},
        body({"error": {"message": message, "type": "requests", "code": "rate_limit_exceeded"}}),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.until_epoch == pytest.approx(NOW + 86.4)
    assert not error.provider_wide


def test_groq_decommissioned_model_400_takes_the_model_out() -> None:
    error = classify(
        400,
        {},
        body(
            {
                "error": {
                    "message": "The model `llama-3.3-70b-versatile` has been decommissioned and is no "
                    "longer supported.",
                    "type": "invalid_request_error",
                    "code": "model_decommissioned",
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == GONE_COOLDOWN_S
    assert "decommissioned" in error.message


@pytest.mark.parametrize(
    "payload",
    [
        {
            "object": "error",
            "message": "This model's maximum context length is 8192 tokens. However, you requested "
            "9000 tokens (8000 in the messages, 1000 in the completion).",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        {
            "error": {
                "message": "Please reduce the length of the messages or completion.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ],
)
def test_context_too_long_for_this_backend_fails_over(payload: dict[str, Any]) -> None:
    error = classify(400, {}, body(payload), now=NOW)
    assert type(error) is UpstreamClientError
    assert error.retry_after_s is None


def test_groq_413_single_request_over_tpm_fails_over() -> None:
    error = classify(
        413,
        {},
        body(
            {
                "error": {
                    "message": "Request too large for model `openai/gpt-oss-20b` on tokens per "
                    "minute (TPM): Limit 8000, Requested 12000, please reduce your message size",
                    "type": "tokens",
                    "code": "rate_limit_exceeded",
                }
            }
        ),
        now=NOW,
    )
    # This request does not fit the backend: fail over, cool nothing, learn the limit.
    assert type(error) is OverTokenBudget
    assert error.reason is FailureReason.BUDGET
    assert not isinstance(error, UpstreamRejected)
    assert error.retry_after_s is None and not error.provider_wide
    assert error.tpm_limit == 8000


def test_groq_tpm_429_states_the_limit() -> None:
    error = classify(429, {}, body(GROQ_TPM), now=NOW)
    assert isinstance(error, RateLimited) and error.tpm_limit == 8000


def test_a_413_for_the_body_size_is_not_a_token_budget() -> None:
    error = classify(413, {}, b'{"error": {"message": "payload too large"}}', now=NOW)
    assert type(error) is UpstreamClientError and error.tpm_limit is None


# ---- Cerebras -----------------------------------------------------------------------------------

CEREBRAS_HEADERS = {
    "x-ratelimit-limit-requests-day": "14400",
    "x-ratelimit-limit-tokens-minute": "60000",
    "x-ratelimit-remaining-requests-day": "14100",
    "x-ratelimit-remaining-tokens-minute": "0",
    "x-ratelimit-reset-requests-day": "33011.382867097855",
    "x-ratelimit-reset-tokens-minute": "12.5",
}


def test_cerebras_unwrapped_429_uses_the_empty_bucket_reset() -> None:
    error = classify(
        429,
        CEREBRAS_HEADERS,
        body(
            {
                "message": "Tokens per minute limit exceeded - too many tokens processed.",
                "type": "too_many_requests_error",
                "param": "quota",
                "code": "token_quota_exceeded",
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == pytest.approx(12.5)
    assert "Tokens per minute" in error.message


def test_cerebras_empty_day_bucket_parks_until_its_reset() -> None:
    headers = {
        **CEREBRAS_HEADERS,
        "x-ratelimit-remaining-requests-day": "0",
        "x-ratelimit-remaining-tokens-minute": "50000",
    }
    error = classify(
        429,
        headers,
        body(
            {
                "message": "Requests per day limit exceeded - too many requests sent.",
                "type": "too_many_requests_error",
                "param": "quota",
                "code": "request_quota_exceeded",
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.until_epoch == pytest.approx(NOW + 33011.382867097855)


def test_cerebras_queue_exceeded_is_overload_not_a_rate_limit() -> None:
    error = classify(
        429,
        {},
        body(
            {
                "message": "We're experiencing high traffic right now! Please try again soon.",
                "type": "too_many_requests_error",
                "param": "queue",
                "code": "queue_exceeded",
            }
        ),
        now=NOW,
    )
    assert isinstance(error, UpstreamServerError)


# ---- Cloudflare ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [4006, 3036])
def test_cloudflare_daily_neurons_park_the_account_until_utc_midnight(code: int) -> None:
    error = classify(
        429,
        {},
        body(
            {
                "success": False,
                "errors": [
                    {
                        "code": code,
                        "message": "AiError: you have used up your daily free allocation of "
                        "10,000 neurons, please upgrade to Cloudflare's Workers Paid plan",
                    }
                ],
                "messages": [],
                "result": None,
            }
        ),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.provider_wide
    assert error.until_epoch == NEXT_UTC_MIDNIGHT


def test_cloudflare_capacity_3040_is_server_side() -> None:
    error = classify(
        429,
        {},
        body({"success": False, "errors": [{"code": 3040, "message": "Capacity temporarily exceeded"}]}),
        now=NOW,
    )
    assert isinstance(error, UpstreamServerError)


# ---- others -------------------------------------------------------------------------------------


def test_mistral_429_is_rate_limited() -> None:
    error = classify(
        429,
        {"x-ratelimit-remaining-req-minute": "0", "x-ratelimit-limit-req-minute": "60"},
        body({"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "code": "1300"}),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s is None


def test_openai_style_insufficient_quota_429_is_not_a_short_rate_limit() -> None:
    error = classify(
        429,
        {},
        body(
            {
                "error": {
                    "message": "You exceeded your current quota, please check your plan.",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            }
        ),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == LONG_COOLDOWN_S


def test_hf_402_credit_spent() -> None:
    error = classify(
        402,
        {},
        body({"error": "You have exceeded your monthly included credits for Inference Providers."}),
        now=NOW,
    )
    assert type(error) is UpstreamClientError
    assert "monthly included credits" in error.message


def test_anthropic_reset_headers_rfc3339() -> None:
    reset = datetime.fromtimestamp(NOW + 20, UTC).isoformat().replace("+00:00", "Z")
    error = classify(
        429,
        {
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-remaining": "1000",
            "anthropic-ratelimit-tokens-reset": datetime.fromtimestamp(NOW + 5, UTC).isoformat(),
        },
        body({"type": "error", "error": {"type": "rate_limit_error", "message": "Too many"}}),
        now=NOW,
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == pytest.approx(20)


def test_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 90, UTC)
    error = classify(429, {"Retry-After": format_datetime(when, usegmt=True)}, b"", now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == pytest.approx(90)


def test_retry_after_ms_header() -> None:
    error = classify(429, {"retry-after-ms": "1500"}, b"", now=NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 1.5


def test_retry_after_in_the_past_is_zero_not_negative() -> None:
    when = datetime.fromtimestamp(NOW - 90, UTC)
    error = classify(429, {"Retry-After": format_datetime(when, usegmt=True)}, b"", now=NOW)
    assert error.retry_after_s == 0


def test_case_insensitive_multidict_headers() -> None:
    headers = CIMultiDictProxy(CIMultiDict([("RETRY-AFTER", "9"), ("Content-Type", "text/plain")]))
    error = classify(429, headers, b"slow down", now=NOW)
    assert error.retry_after_s == 9


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_request_is_rejected_with_status_and_body(status: int) -> None:
    payload = {"error": {"message": "messages: field required", "type": "invalid_request_error"}}
    error = classify(status, {}, body(payload), now=NOW)
    assert isinstance(error, UpstreamRejected)
    assert error.status == status
    assert error.upstream_status == status
    assert error.body == payload


def test_rejected_non_json_body_is_none() -> None:
    error = classify(400, {}, b"bad request", now=NOW)
    assert isinstance(error, UpstreamRejected)
    assert error.body is None
    assert "bad request" in error.message


def test_fastapi_detail_is_the_message() -> None:
    error = classify(422, {}, body({"detail": "model field required"}), now=NOW)
    assert isinstance(error, UpstreamRejected)
    assert error.message.endswith("model field required")


def test_gone_410() -> None:
    error = classify(410, {}, b"", now=NOW)
    assert type(error) is UpstreamClientError
    assert error.retry_after_s == GONE_COOLDOWN_S


def test_other_4xx_is_client_error() -> None:
    error = classify(405, {}, b"", now=NOW)
    assert type(error) is UpstreamClientError


def test_success_status_is_a_bad_response() -> None:
    assert isinstance(classify(200, {}, b"{}", now=NOW), BadResponse)


def test_message_never_carries_keys() -> None:
    secret = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef"
    error = classify(
        401,
        {"Authorization": f"Bearer {secret}", "x-api-key": secret},
        body({"error": {"message": f"Incorrect API key provided: {secret}. Bearer {secret}"}}),
        now=NOW,
    )
    assert secret not in error.message
    assert "sk-or-v1" not in error.message
    assert "[redacted]" in error.message


def test_message_is_short_and_single_line() -> None:
    error = classify(500, {}, body({"error": {"message": "boom\n" * 500}}), now=NOW)
    assert len(error.message) <= 240
    assert "\n" not in error.message


# ---- mid-stream errors ---------------------------------------------------------------------------


def test_stream_error_chunk_with_server_code() -> None:
    error = classify_stream_error(
        {
            "id": "gen-1",
            "object": "chat.completion.chunk",
            "error": {
                "code": 502,
                "message": "Provider disconnected",
                "metadata": {"error_type": "server"},
            },
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        },
        now=NOW,
    )
    assert isinstance(error, UpstreamServerError)


def test_stream_error_chunk_rate_limited() -> None:
    error = classify_stream_error(
        {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day"}}, now=NOW
    )
    assert isinstance(error, RateLimited)
    assert error.provider_wide
    assert error.until_epoch == NEXT_UTC_MIDNIGHT


def test_stream_error_chunk_with_only_an_error_type() -> None:
    error = classify_stream_error(
        {"error": {"message": "upstream died", "metadata": {"error_type": "server"}}}, now=NOW
    )
    assert isinstance(error, UpstreamServerError)


def test_anthropic_stream_error_events() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert isinstance(classify_stream_error(overloaded, now=NOW), UpstreamServerError)
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many"}}
    assert isinstance(classify_stream_error(limited, now=NOW), RateLimited)


def test_stream_error_chunk_without_code_is_a_stream_error() -> None:
    error = classify_stream_error({"error": {"message": "something broke"}}, now=NOW)
    assert isinstance(error, StreamError)
    assert error.reason is FailureReason.STREAM_ERROR
    assert "something broke" in error.message


# ---- quota headers ------------------------------------------------------------------------------


def test_quota_groq_headers() -> None:
    quota = quota_from_headers(
        {
            "x-ratelimit-limit-requests": "1000",
            "x-ratelimit-limit-tokens": "8000",
            "x-ratelimit-remaining-requests": "913",
            "x-ratelimit-remaining-tokens": "7200",
            "x-ratelimit-reset-requests": "2m59.56s",
            "x-ratelimit-reset-tokens": "6s",
        },
        NOW,
    )
    assert quota is not None
    assert (quota.requests_remaining, quota.tokens_remaining) == (913, 7200)
    assert quota.requests_reset_epoch == pytest.approx(NOW + 179.56)
    assert quota.tokens_reset_epoch == pytest.approx(NOW + 6)
    assert (quota.day_remaining, quota.day_reset_epoch) == (None, None)
    assert quota.requests_limit == 1000  # what the remaining count counts down from
    assert quota.tokens_limit == 8000  # Groq's TPM


def test_quota_cerebras_headers() -> None:
    quota = quota_from_headers(CEREBRAS_HEADERS, NOW)
    assert quota is not None
    assert quota.day_remaining == 14100
    assert quota.day_reset_epoch == pytest.approx(NOW + 33011.382867097855)
    assert quota.tokens_remaining == 0
    assert quota.tokens_reset_epoch == pytest.approx(NOW + 12.5)
    assert quota.tokens_limit == 60000
    assert quota.requests_remaining is None


def test_quota_anthropic_headers() -> None:
    reset = "2026-11-22T10:00:30Z"
    quota = quota_from_headers(
        CIMultiDictProxy(
            CIMultiDict(
                {
                    "Anthropic-RateLimit-Requests-Remaining": "49",
                    "Anthropic-RateLimit-Requests-Reset": reset,
                    "Anthropic-RateLimit-Input-Tokens-Remaining": "30000",
                    "Anthropic-RateLimit-Input-Tokens-Reset": reset,
                    "Anthropic-RateLimit-Input-Tokens-Limit": "40000",
                }
            )
        ),
        NOW,
    )
    assert quota == Quota(
        requests_remaining=49,
        requests_reset_epoch=NOW + 30,
        tokens_remaining=30000,
        tokens_reset_epoch=NOW + 30,
        tokens_limit=40000,
    )


def test_quota_openrouter_and_mistral_headers() -> None:
    openrouter = quota_from_headers(
        {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int((NOW + 60) * 1000))}, NOW
    )
    assert openrouter == Quota(requests_remaining=3, requests_reset_epoch=NOW + 60)
    mistral = quota_from_headers(
        {"x-ratelimit-remaining-req-minute": "59", "x-ratelimit-remaining-tokens-minute": "499000",
         "x-ratelimit-limit-tokens-minute": "500000"},
        NOW,
    )
    assert mistral == Quota(requests_remaining=59, tokens_remaining=499000, tokens_limit=500000)


def test_quota_absent() -> None:
    assert quota_from_headers({"content-type": "application/json"}, NOW) is None
    assert quota_from_headers({"x-ratelimit-remaining-requests": "many"}, NOW) is None


# ---- properties ---------------------------------------------------------------------------------


@given(
    hours=st.integers(0, 48),
    minutes=st.integers(0, 59),
    millis=st.integers(0, 59_999),
)
def test_duration_round_trip(hours: int, minutes: int, millis: int) -> None:
    seconds = millis / 1000
    text = f"{hours}h{minutes}m{seconds}s" if hours else f"{minutes}m{seconds}s"
    assert parse_duration(text) == pytest.approx(hours * 3600 + minutes * 60 + seconds)
    assert parse_duration(f"{millis}ms") == pytest.approx(seconds)
    assert parse_duration(repr(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "-3", "1x", "m", "1m-2s", "nan", "inf"])
def test_duration_rejects_garbage(text: str) -> None:
    assert parse_duration(text) is None


def test_reset_epoch_forms() -> None:
    assert reset_epoch("1767225600000", NOW) == 1767225600.0  # epoch ms
    assert reset_epoch("1767225600", NOW) == 1767225600.0  # epoch s
    assert reset_epoch("30", NOW) == NOW + 30
    assert reset_epoch("1m", NOW) == NOW + 60
    assert reset_epoch("2026-11-22T10:01:00Z", NOW) == NOW + 60
    assert reset_epoch("later", NOW) is None


header_values = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**15), 10**15).map(str),
)


@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "retry-after",
                "retry-after-ms",
                "x-ratelimit-reset",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests-day",
                "x-ratelimit-remaining-requests-day",
                "anthropic-ratelimit-requests-reset",
            ]
        ),
        header_values,
    ),
    delay=header_values,
)
def test_retry_after_is_never_negative_or_unbounded(headers: dict[str, str], delay: str) -> None:
    payload = body(
        [
            {
                "error": {
                    "code": 429,
                    "message": f"Please try again in {delay}",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}],
                }
            }
        ]
    )
    error = classify(429, headers, payload, now=NOW)
    assert isinstance(error, RateLimited | UpstreamServerError | UpstreamClientError)
    if error.retry_after_s is not None:
        assert math.isfinite(error.retry_after_s)
        assert 0 <= error.retry_after_s <= MAX_HINT_S
    if error.until_epoch is not None:
        assert NOW <= error.until_epoch <= NOW + MAX_HINT_S


@given(status=st.integers(100, 599), raw=st.binary(max_size=300))
def test_classify_never_raises_on_any_body(status: int, raw: bytes) -> None:
    error = classify(status, {}, raw, now=NOW)
    assert isinstance(error, UpstreamError)
    assert len(error.message) <= 240


@given(
    status=st.integers(400, 599),
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["error", "code", "message", "metadata", "raw", "details", "errors"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    ),
)
def test_classify_never_raises_on_odd_json(status: int, payload: object) -> None:
    assert isinstance(classify(status, {}, body(payload), now=NOW), UpstreamError)


@given(now=st.floats(0, 4e9), tz=st.sampled_from(["UTC", "America/Los_Angeles"]))
def test_next_midnight_is_the_next_local_midnight(now: float, tz: str) -> None:
    midnight = next_midnight(now, tz)
    assert now < midnight <= now + 25 * 3600
    local = datetime.fromtimestamp(midnight, ZoneInfo(tz))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)


def test_every_quota_header_passes_the_prefix_filter() -> None:
    # quota_from_headers looks only at names with these prefixes: a table entry without one
    # would be silently ignored.
    names = [h for table in (_COUNT_HEADERS, _LIMIT_HEADERS, _RESET_HEADERS)
             for hs in table.values() for h in hs]
    assert names and all(h.startswith(_QUOTA_PREFIXES) for h in names)


def test_quota_header_names_are_read_in_any_case() -> None:
    quota = quota_from_headers({"X-RateLimit-Remaining-Requests": "7",
                                "Anthropic-RateLimit-Tokens-Remaining": "900"}, NOW)
    assert quota is not None
    assert (quota.requests_remaining, quota.tokens_remaining) == (7, 900)
