"""router.logs: JSON lines by default, a console rendering on request, the three kinds of lines,
and no key or prompt text ever rendered."""

from __future__ import annotations

import asyncio
import io
import json
import re
import string
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from router import logs
from router.types import Api, Backend, Capability

SECRET_ALPHABET = string.ascii_letters + string.digits


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure(console=False, level="debug", stream=out)
    yield out
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def access(**overrides: Any) -> None:
    fields: dict[str, Any] = {
        "request_id": "req-1", "api": Api.OPENAI, "route": "free", "strategy": "random",
        "backend": "sim/steady", "attempts": 2, "status": 200, "duration_ms": 812.345,
        "ttft_ms": 120.04, "prompt_tokens": 11, "completion_tokens": 42, "client": "alice",
    }
    logs.access_log(**(fields | overrides))


def test_access_line_is_one_json_object(stream: io.StringIO) -> None:
    access()
    (line,) = lines(stream)
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert {k: line[k] for k in ("request_id", "api", "route", "strategy", "backend", "attempts",
                                 "status", "duration_ms", "ttft_ms", "prompt_tokens",
                                 "completion_tokens", "client")} == {
        "request_id": "req-1", "api": "openai", "route": "free", "strategy": "random",
        "backend": "sim/steady", "attempts": 2, "status": 200, "duration_ms": 812.3,
        "ttft_ms": 120.0, "prompt_tokens": 11, "completion_tokens": 42, "client": "alice",
    }


def test_the_access_line_is_what_the_processor_chain_would_render(stream: io.StringIO) -> None:
    """The access line skips structlog's chain for speed; it must not differ from it (but for
    the time), a client's request id scrubbed of key shapes included."""
    access(request_id="req-2 Bearer sk-abcdefghijklmnopqrstu", status=503)
    logs.configure(console=False, level="debug", stream=stream, secrets=())
    fast, = lines(stream)
    logs.logger().warning("request", **{k: v for k, v in fast.items()
                                        if k not in ("event", "level", "timestamp")}
                          | {"request_id": "req-2 Bearer sk-abcdefghijklmnopqrstu"})
    _, chained = lines(stream)
    del fast["timestamp"], chained["timestamp"]
    assert fast == chained
    assert fast["request_id"] == "req-2 [redacted]" and fast["level"] == "warning"


@settings(max_examples=40)
@given(request_id=st.one_of(st.text(alphabet=SECRET_ALPHABET + "-_ ", max_size=40),
                            st.sampled_from(["AIza" + "x" * 24, "abcAIza" + "Q1" * 12,
                                             "0123456789abcdef012345"])))
def test_the_access_line_scrubs_a_request_id_as_the_chain_would(request_id: str) -> None:
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    try:
        access(request_id=request_id)
        logs.logger().info("request", request_id=request_id)
    finally:
        structlog.reset_defaults()
    fast, chained = lines(out)
    assert fast["request_id"] == chained["request_id"]


def test_the_access_line_timestamp_is_structlogs_iso_utc(stream: io.StringIO) -> None:
    access()
    logs.logger().info("request")
    fast, chained = (line["timestamp"] for line in lines(stream))
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(shape, fast) and re.fullmatch(shape, chained)
    stamps = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (fast, chained)]
    assert timedelta(0) <= stamps[1] - stamps[0] < timedelta(seconds=5)


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


async def test_access_lines_of_one_loop_turn_share_one_flush() -> None:
    out = CountingStream()
    logs.configure(console=False, level="info", stream=out)
    try:
        for n in range(5):
            access(request_id=f"req-{n}")
        assert out.flushes == 0 and len(lines(out)) == 5
        await asyncio.sleep(0)  # one turn of the loop
        assert out.flushes == 1
        access(request_id="req-5")
        await asyncio.sleep(0)
        assert out.flushes == 2
    finally:
        structlog.reset_defaults()


def test_an_access_line_outside_a_loop_is_flushed_at_once() -> None:
    out = CountingStream()
    logs.configure(console=False, level="info", stream=out)
    try:
        access()
        assert out.flushes == 1
    finally:
        structlog.reset_defaults()


def test_a_filtered_access_line_costs_no_rendering() -> None:
    out = io.StringIO()
    logs.configure(console=False, level="warning", stream=out)
    try:
        access(status=200)
        access(status=502)
    finally:
        structlog.reset_defaults()
        logs.configure()
    assert [line["status"] for line in lines(out)] == [502]


@pytest.mark.parametrize(("status", "level"), [(200, "info"), (404, "info"), (502, "warning")])
def test_access_level_follows_status_class(stream: io.StringIO, status: int, level: str) -> None:
    access(status=status, backend=None)
    assert lines(stream)[0]["level"] == level


def test_transition_and_pool_summary(stream: io.StringIO) -> None:
    logs.log_transition("sim/flaky", "healthy", "cooling", "server_error", cooldown_s=29.96)
    logs.log_transition("sim/flaky", "cooling", "half_open", None)
    backends = [
        Backend("sim/a", "sim", "a", Api.OPENAI, frozenset({Capability.TOOLS}), 8192),
        Backend("sim/b", "sim", "b", Api.ANTHROPIC, frozenset(), 8192),
        Backend("groq/c", "groq", "c", Api.OPENAI, frozenset({Capability.TOOLS}), 8192),
    ]
    logs.log_pool_summary(backends, {"free": ["sim/a", "sim/b", "groq/c"], "sim/a": ["sim/a"]})
    cooling, half_open, pool = lines(stream)
    assert (cooling["event"], cooling["level"], cooling["reason"], cooling["cooldown_s"]) == (
        "backend_state", "warning", "server_error", 30.0)
    assert (half_open["new"], half_open["level"]) == ("half_open", "info")
    assert pool["backends"] == 3
    assert pool["providers"] == {"groq": 1, "sim": 2}
    assert pool["capabilities"] == {"tools": 2}
    assert pool["routes"] == {"free": 3, "sim/a": 1}


def test_level_filters(stream: io.StringIO) -> None:
    logs.configure(console=False, level="warning", stream=stream)
    access(status=200)
    access(status=503)
    assert [line["status"] for line in lines(stream)] == [503]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose"):
        logs.configure(console=False, level="verbose")


def test_console_renderer_is_not_json() -> None:
    out = io.StringIO()
    logs.configure(console=True, level="info", stream=out)
    try:
        access()
    finally:
        structlog.reset_defaults()
    text = out.getvalue()
    assert "request" in text and "route=free" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize(
    ("field", "sensitive"),
    [("api_key", True), ("x-api-key", True), ("Authorization", True), ("messages", True),
     ("prompt", True), ("system_prompt", True), ("client_key", True), ("key", True),
     ("prompt_tokens", False), ("completion_tokens", False), ("api", False), ("client", False),
     ("api_key_env", False), ("route", False), ("request_id", False), ("ttft_ms", False)],
)
def test_is_sensitive(field: str, sensitive: bool) -> None:
    assert logs.is_sensitive(field) is sensitive


SENSITIVE_FIELDS = st.sampled_from(
    ["api_key", "key", "authorization", "x_api_key", "messages", "prompt", "client_key",
     "Authorization", "password", "content", "upstream_api_key", "body"]
)
SECRETS = st.text(alphabet=SECRET_ALPHABET, min_size=16, max_size=40)


@settings(max_examples=50)
@given(field=SENSITIVE_FIELDS, secret=SECRETS, nested=st.booleans())
def test_secrets_in_sensitive_fields_never_render(field: str, secret: str, nested: bool) -> None:
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    try:
        value: Any = {"headers": {field: secret}} if nested else secret
        logs.logger().info("oops", **{"detail" if nested else field: value})
    finally:
        structlog.reset_defaults()
    assert secret not in out.getvalue()
    assert logs.REDACTED in out.getvalue()


@settings(max_examples=50)
@given(token=st.text(alphabet=SECRET_ALPHABET, min_size=20, max_size=40),
       shape=st.sampled_from(["Bearer {}", "sk-{}", "gsk_{}", "sk-or-v1-{}", "AIza{}"]))
def test_secret_shapes_in_free_text_never_render(token: str, shape: str) -> None:
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out)
    try:
        logs.logger().warning(f"refused {shape.format(token)}",
                              error=f"401: invalid key {shape.format(token)} x")
    finally:
        structlog.reset_defaults()
    assert token not in out.getvalue()
    assert "401: invalid key" in out.getvalue()


@settings(max_examples=30)
@given(key=st.text(alphabet=SECRET_ALPHABET, min_size=8, max_size=40),
       field=st.sampled_from(["error", "detail", "url", "note"]))
def test_configured_secrets_never_render(key: str, field: str) -> None:
    out = io.StringIO()
    logs.configure(console=False, level="info", stream=out, secrets=[key, ""])
    try:
        logs.logger().warning("upstream_error", **{field: f"upstream said: {key}!", "n": 3})
    finally:
        structlog.reset_defaults()
    (line,) = lines(out)
    assert key not in out.getvalue()
    assert line[field] == f"upstream said: {logs.REDACTED}!"
    assert line["n"] == 3


async def test_a_replaced_stream_is_flushed_before_the_new_one_takes_over() -> None:
    old, new = CountingStream(), CountingStream()
    logs.configure(console=False, level="info", stream=old)
    try:
        access()  # its flush is pending until the loop turns
        logs.configure(console=False, level="info", stream=new)
        assert old.flushes == 1
        access(request_id="req-new")
        await asyncio.sleep(0)
        assert new.flushes == 1 and len(lines(new)) == 1
    finally:
        structlog.reset_defaults()
