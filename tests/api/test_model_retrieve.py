"""GET /v1/models/{id} through both official SDKs' `models.retrieve`: a route, a backend whose
id holds slashes and `:free`, an alias, the `X:free` and bare-name shorthands, each in the
caller's shape (OpenAI's model object, or Anthropic's ModelInfo when `anthropic-version` is
sent), with what the list says of it; an unknown id is a 404 in the caller's format."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from router.demo.upstream import FakeUpstream
from tests.harness import Harness, provider

SLASHED = "openrouter/meta-llama/llama-3.3-70b-instruct:free"


@pytest.fixture
def url(h: Harness) -> str:
    base = h.upstream("up", FakeUpstream())
    return h.router({
        "providers": [
            provider("openrouter", base, {"meta-llama/llama-3.3-70b-instruct:free": ["tools"]},
                     context_length=131072),
            provider("groq", base, {"qwen-small": ["json_object"]}),
        ],
        "routes": [{"name": "free", "strategy": "random", "backends": ["*"]}],
        "aliases": {"claude-*": "free", "gpt-4o": "groq/qwen-small"},
    })


@pytest.fixture
def oai(url: str) -> Any:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(url: str) -> Any:
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client:
        yield client


def listed(url: str, **headers: str) -> dict[str, Any]:
    data = httpx.get(f"{url}/v1/models", headers=headers).json()["data"]
    return {m["id"]: m for m in data}


def test_openai_shape_matches_the_list(oai: Any, url: str) -> None:
    everything = listed(url)
    for model_id in ("free", SLASHED, "groq/qwen-small"):
        got = oai.models.retrieve(model_id)
        assert got.id == model_id and got.object == "model"
        assert got.model_dump(exclude_none=True) == everything[model_id]
    route = oai.models.retrieve("free")
    assert route.owned_by == "freerouter"
    assert route.model_extra["capabilities"] == ["json_object", "tools"]
    assert route.model_extra["context_length"] == 131072
    assert oai.models.retrieve(SLASHED).owned_by == "openrouter"


def test_anthropic_shape_matches_the_list(ant: Any, url: str) -> None:
    everything = listed(url, **{"anthropic-version": "2023-06-01"})
    for model_id in ("free", SLASHED):
        got = ant.models.retrieve(model_id)
        assert got.id == model_id and got.type == "model" and got.display_name == model_id
        entry = everything[model_id]
        assert got.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") == entry["created_at"]
        # read field by field: this SDK types `capabilities` as an object of its own
        for key in ("owned_by", "capabilities", "max_input_tokens"):
            assert getattr(got, key) == entry[key]
    assert ant.models.retrieve(SLASHED).max_input_tokens == 131072


@pytest.mark.parametrize(("asked", "resolves_to"), [
    ("claude-sonnet-5", "free"),  # an alias to a route
    ("gpt-4o", "groq/qwen-small"),  # an alias to a backend
    ("meta-llama/llama-3.3-70b-instruct:free", SLASHED),  # the bare upstream model name
    ("qwen-small:free", "groq/qwen-small"),  # the X:free shorthand
])
def test_other_names_resolve_as_requests_do(oai: Any, ant: Any, url: str, asked: str,
                                            resolves_to: str) -> None:
    target = listed(url)[resolves_to]
    got = oai.models.retrieve(asked)
    assert got.id == asked and got.model_extra["resolves_to"] == resolves_to
    assert got.owned_by == target["owned_by"]
    assert got.model_extra["capabilities"] == target["capabilities"]
    claude = ant.models.retrieve(asked)
    assert claude.id == asked and claude.model_extra["resolves_to"] == resolves_to


def test_unknown_ids_are_404s_in_the_callers_format(oai: Any, ant: Any, url: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.models.retrieve("openrouter/no/such:free")
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] in ("not_found_error", "invalid_request_error")
    assert "does not exist" in body["message"]
    with pytest.raises(anthropic.NotFoundError) as missing:
        ant.models.retrieve("no-such-model")
    body = missing.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
