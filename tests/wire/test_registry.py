"""The API registry: which API a request speaks, and each API's error and model-list shapes."""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse
from router.errors import ModelNotFound, Overloaded, RequestError
from router.types import Api
from router.wire import ANTHROPIC_MESSAGES, OPENAI_CHAT, OPENAI_RESPONSES, ModelEntry, recognise

VERSION = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(("path", "headers", "api"), [
    ("/v1/chat/completions", {}, Api.OPENAI),
    ("/v1/chat/completions", VERSION, Api.OPENAI),
    ("/v1/messages", {}, Api.ANTHROPIC),
    ("/v1/messages/count_tokens", {}, Api.ANTHROPIC),
    ("/v1/models", {}, Api.OPENAI),
    ("/v1/models", VERSION, Api.ANTHROPIC),
    ("/v1/models/free", VERSION, Api.ANTHROPIC),
    ("/v1/responses", {}, Api.RESPONSES),
    ("/v1/responses", VERSION, Api.RESPONSES),
    ("/v1/responses/resp_1", {}, Api.RESPONSES),
    ("/v1/responsesx", {}, Api.OPENAI),
    ("/no/such/path", {}, Api.OPENAI),
])
def test_each_request_is_recognised_once_by_its_path_and_headers(
        path: str, headers: dict[str, str], api: Api) -> None:
    assert recognise(path, headers).api is api


def test_error_shapes_and_overload_statuses() -> None:
    exc = ModelNotFound("no such model", param="model", code="model_not_found")
    assert OPENAI_CHAT.error_body(OPENAI_CHAT.error_type(exc, 404), exc.message, param="model",
                                  code="model_not_found") == {
        "error": {"message": "no such model", "type": "not_found_error", "param": "model",
                  "code": "model_not_found"}}
    assert ANTHROPIC_MESSAGES.error_body(ANTHROPIC_MESSAGES.error_type(exc, 404), exc.message,
                                         request_id="r1") == {
        "type": "error", "error": {"type": "not_found_error", "message": "no such model"},
        "request_id": "r1"}
    busy = Overloaded("busy", retry_after_s=1)
    assert (OPENAI_CHAT.overloaded_status, ANTHROPIC_MESSAGES.overloaded_status) == (503, 529)
    assert ANTHROPIC_MESSAGES.error_type(busy, 529) == "overloaded_error"
    assert ANTHROPIC_MESSAGES.error_type(RequestError("x"), 418) == "invalid_request_error"
    assert ANTHROPIC_MESSAGES.error_type(RequestError("x"), 599) == "api_error"


def test_in_band_stream_errors() -> None:
    assert OPENAI_CHAT.stream_error("upstream_error", "gone") == [
        b'data: {"error":{"message":"gone","type":"upstream_error","param":null,"code":null}}\n\n',
        b"data: [DONE]\n\n"]
    assert ANTHROPIC_MESSAGES.stream_error("api_error", "gone") == [
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"gone"}}\n\n']


def test_sticky_keys_per_api() -> None:
    assert OPENAI_CHAT.analyse({"messages": [], "user": "u"}, None).session_key == "u"
    assert OPENAI_CHAT.analyse({"messages": [], "user": "u"}, "h").session_key == "h"
    cached = {"messages": [], "user": "u", "prompt_cache_key": "c"}
    assert OPENAI_CHAT.analyse(cached, None).session_key == "c"
    body = {"messages": [], "metadata": {"user_id": "m"}, "user": "u"}
    assert ANTHROPIC_MESSAGES.analyse(body, None).session_key == "m"
    keys = {"input": "hi", "user": "u", "safety_identifier": "s", "prompt_cache_key": "c"}
    assert OPENAI_RESPONSES.analyse(keys, "h").session_key == "h"
    assert OPENAI_RESPONSES.analyse(keys, None).session_key == "c"
    assert OPENAI_RESPONSES.analyse({**keys, "prompt_cache_key": None}, None).session_key == "s"
    assert OPENAI_RESPONSES.analyse({"input": "hi", "user": "u"}, None).session_key == "u"


def test_responses_errors_are_openai_errors_and_its_stream_error_a_failed_response() -> None:
    exc = RequestError("bad", param="input")
    assert OPENAI_RESPONSES.error_body(OPENAI_RESPONSES.error_type(exc, 400), "bad", param="input") == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "input", "code": None}}
    assert OPENAI_RESPONSES.overloaded_status == 503
    frames = b"".join(OPENAI_RESPONSES.stream_error("upstream_error", "gone")).decode()
    assert frames.startswith("event: error\ndata: ") and "event: response.failed" in frames
    assert '"status":"failed"' in frames and "[DONE]" not in frames


def test_model_lists() -> None:
    entries = [ModelEntry(f"m{i}", "p", ("tools",), 1000, 0) for i in range(5)]
    assert [m["id"] for m in OPENAI_CHAT.model_list(entries, {})["data"]] == [
        "m0", "m1", "m2", "m3", "m4"]
    page = ANTHROPIC_MESSAGES.model_list(entries, {"limit": "2", "after_id": "m1"})
    assert [m["id"] for m in page["data"]] == ["m2", "m3"] and page["has_more"]
    assert page["data"][0]["created_at"] == "1970-01-01T00:00:00Z"
    with pytest.raises(RequestError):
        ANTHROPIC_MESSAGES.model_list(entries, {"limit": "0"})


def test_a_client_only_api_is_no_provider_api() -> None:
    raw = {"providers": [{"name": "p", "api": "responses", "base_url": "http://127.0.0.1:1/v1",
                          "models": [{"name": "m"}]}]}
    with pytest.raises(ConfigError) as err:
        parse(raw, {}, ["random"], {})
    assert "providers[0].api: 'responses' is not one of: openai, anthropic" in err.value.errors
