"""The built-in free-provider catalog: its data, the provider tables it yields, which presets an
environment turns on, and how discovered models become model tables."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.catalog import (
    Preset,
    PresetError,
    enabled_presets,
    load_catalog,
    parse_catalog,
    preset_status,
    preset_statuses,
)
from providers.discovery import DISCOVERY_METHODS
from providers.model_lists import DiscoveredModel
from router.types import Api, Capability

HOSTED = [
    "openrouter",
    "gemini",
    "groq",
    "cerebras",
    "mistral",
    "codestral",
    "cloudflare",
    "nvidia",
    "huggingface",
    "sambanova",
    "cohere",
    "scaleway",
]
RETIRED = ["together", "chutes", "github"]
LOCAL = ["ollama", "llamacpp", "vllm", "lmstudio"]
# The [[providers]] keys INTERFACE.md names (and counts_max_tokens, the README's extension), and
# those of [[providers.models]].
PROVIDER_KEYS = {"name", "api", "base_url", "api_key_env", "discover", "rpm", "rpd", "tpm", "tpd",
                 "counts_max_tokens", "models"}
MODEL_KEYS = {"name", "capabilities", "context_length", "weight", "rpm", "rpd", "tpm", "tpd"}
Catalog = Mapping[str, Preset]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_provider_of_the_reference_is_there(catalog: Catalog) -> None:
    assert list(catalog) == HOSTED + RETIRED + LOCAL


def test_load_is_parsed_once(catalog: Catalog) -> None:
    assert load_catalog() is catalog


@pytest.mark.parametrize("name", [*RETIRED, "scaleway"])
def test_no_longer_free_presets_are_off_with_a_reason(catalog: Catalog, name: str) -> None:
    preset = catalog[name]
    assert not preset.enabled_by_default
    assert preset.disabled_reason


def test_presets_are_consistent(catalog: Catalog) -> None:
    for preset in catalog.values():
        assert preset.discover in DISCOVERY_METHODS, preset.name
        assert preset.api is Api.OPENAI
        ZoneInfo(preset.daily_reset_tz)
        assert preset.daily_scope in {"account", "model"}
        assert not preset.base_url.endswith("/")
        scheme = urlsplit(preset.base_url).scheme
        if preset.local:
            assert scheme == "http" and "127.0.0.1" in preset.base_url, preset.name
            assert preset.probe_path and preset.api_key_optional
        else:
            assert scheme == "https", preset.name
        assert preset.enabled_by_default == (preset.disabled_reason is None), preset.name
        for model in preset.models:
            assert model.context_length > 0


def test_reset_zones_and_scopes(catalog: Catalog) -> None:
    assert catalog["gemini"].daily_reset_tz == "America/Los_Angeles"
    assert catalog["openrouter"].daily_reset_tz == "UTC"
    assert catalog["openrouter"].daily_scope == "account"
    assert catalog["cloudflare"].daily_scope == "account"
    assert catalog["groq"].daily_scope == "model"


def test_openrouter_preset(catalog: Catalog) -> None:
    fields = catalog["openrouter"].provider_fields({"OPENROUTER_API_KEY": "sk-or-v1-x"})
    assert fields["base_url"] == "https://openrouter.ai/api/v1"
    assert fields["api_key_env"] == "OPENROUTER_API_KEY"
    assert fields["discover"] == "openrouter-free"
    assert (fields["rpm"], fields["rpd"]) == (20, 50)
    assert all(m["name"].endswith(":free") for m in fields["models"])
    assert fields["models"][0] == {
        "name": "openai/gpt-oss-20b:free",
        "capabilities": ["json_object", "reasoning", "tools"],
        "context_length": 131072,
    }


def has_none(value: object) -> bool:
    if isinstance(value, dict):
        return any(has_none(v) for v in value.values())
    if isinstance(value, list):
        return any(has_none(v) for v in value)
    return value is None


def test_provider_fields_use_interface_names_and_no_nulls(catalog: Catalog) -> None:
    env = {"CLOUDFLARE_ACCOUNT_ID": "acct"}
    for preset in catalog.values():
        fields = preset.provider_fields(env)
        assert set(fields) <= PROVIDER_KEYS, preset.name
        assert {"name", "api", "base_url", "discover", "models"} <= set(fields)
        assert fields["name"] == preset.name
        assert not has_none(fields), preset.name  # TOML has no null
        for model in fields["models"]:
            assert set(model) <= MODEL_KEYS
            assert {Capability(c) for c in model["capabilities"]} == {
                m for m in preset.models if m.name == model["name"]
            }.pop().capabilities


def test_hosted_presets_without_discovery_still_have_models(catalog: Catalog) -> None:
    for name in HOSTED:
        preset = catalog[name]
        if preset.discover == "none":
            assert preset.models, name


def test_gemini_key_fallback_and_preference(catalog: Catalog) -> None:
    gemini = catalog["gemini"]
    assert gemini.provider_fields({"GOOGLE_API_KEY": "g"})["api_key_env"] == "GOOGLE_API_KEY"
    both = {"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "k"}
    assert gemini.provider_fields(both)["api_key_env"] == "GEMINI_API_KEY"
    assert gemini.provider_fields({})["api_key_env"] == "GEMINI_API_KEY"
    assert gemini.provider_fields({"GEMINI_API_KEY": ""})["api_key_env"] == "GEMINI_API_KEY"
    models = {m["name"]: m for m in gemini.provider_fields({})["models"]}
    assert (models["gemini-2.5-flash"]["rpm"], models["gemini-2.5-flash"]["rpd"]) == (5, 20)
    assert models["gemma-3-27b-it"]["rpd"] == 14400


def test_cloudflare_account_id_fills_the_url(catalog: Catalog) -> None:
    cloudflare = catalog["cloudflare"]
    fields = cloudflare.provider_fields({"CLOUDFLARE_ACCOUNT_ID": "abc123", "CLOUDFLARE_API_TOKEN": "t"})
    assert fields["base_url"] == "https://api.cloudflare.com/client/v4/accounts/abc123/ai/v1"
    with pytest.raises(PresetError, match="CLOUDFLARE_ACCOUNT_ID"):
        cloudflare.provider_fields({"CLOUDFLARE_API_TOKEN": "t"})


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("0.0.0.0:11500", "http://0.0.0.0:11500/v1"),
        ("http://gpu-box:11434", "http://gpu-box:11434/v1"),
        ("https://ollama.internal", "https://ollama.internal/v1"),
    ],
)
def test_ollama_host_replaces_the_origin(catalog: Catalog, host: str, base_url: str) -> None:
    ollama = catalog["ollama"]
    assert ollama.provider_fields({"OLLAMA_HOST": host})["base_url"] == base_url
    assert ollama.probe_url_for({"OLLAMA_HOST": host}) == base_url.removesuffix("/v1") + "/api/version"


def test_local_presets_omit_an_unset_optional_key(catalog: Catalog) -> None:
    assert "api_key_env" not in catalog["vllm"].provider_fields({})
    assert catalog["vllm"].provider_fields({"VLLM_API_KEY": "s"})["api_key_env"] == "VLLM_API_KEY"
    assert catalog["llamacpp"].probe_url_for({}) == "http://127.0.0.1:8080/health"
    assert catalog["groq"].probe_url_for({}) is None


def test_statuses_say_why(catalog: Catalog) -> None:
    env = {"GROQ_API_KEY": "gsk_x", "CLOUDFLARE_API_TOKEN": "t", "TOGETHER_API_KEY": "x"}
    statuses = {s.preset.name: s for s in preset_statuses(env, answering={"ollama"})}
    assert statuses["groq"].enabled
    assert statuses["groq"].reason == "key variable GROQ_API_KEY set"
    assert not statuses["openrouter"].enabled
    assert statuses["openrouter"].reason == "key variable OPENROUTER_API_KEY not set"
    assert statuses["gemini"].reason == "key variable GEMINI_API_KEY or GOOGLE_API_KEY not set"
    assert not statuses["cloudflare"].enabled
    assert statuses["cloudflare"].reason == "variable CLOUDFLARE_ACCOUNT_ID not set"
    assert not statuses["together"].enabled
    assert statuses["together"].reason.startswith("disabled: no free tier")
    assert statuses["ollama"].enabled
    assert statuses["ollama"].reason.startswith("local: answering")
    assert not statuses["vllm"].enabled
    assert statuses["vllm"].reason.startswith("local: not answering")


def test_enabled_presets(catalog: Catalog) -> None:
    env = {"GROQ_API_KEY": "gsk_x", "GOOGLE_API_KEY": "g", "GITHUB_TOKEN": "ghp_x"}
    enabled = enabled_presets(env, answering={"lmstudio"})
    assert [(p.name, why) for p, why in enabled] == [
        ("gemini", "key variable GOOGLE_API_KEY set"),
        ("groq", "key variable GROQ_API_KEY set"),
        ("lmstudio", "local: answering at http://127.0.0.1:1234/v1"),
    ]
    assert enabled_presets({}) == []


def test_local_presets_not_probed_say_so(catalog: Catalog) -> None:
    status = preset_status(catalog["ollama"], {})
    assert not status.enabled
    assert status.reason == "local: not probed (serve --local probes it)"


def test_api_key_value(catalog: Catalog) -> None:
    assert catalog["gemini"].api_key_for({"GOOGLE_API_KEY": "g"}) == "g"
    assert catalog["gemini"].api_key_for({"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "k"}) == "k"
    assert catalog["ollama"].api_key_for({}) is None


@given(
    env=st.dictionaries(
        st.sampled_from(
            [
                "OPENROUTER_API_KEY",
                "GEMINI_API_KEY",
                "GOOGLE_API_KEY",
                "CLOUDFLARE_API_TOKEN",
                "CLOUDFLARE_ACCOUNT_ID",
                "TOGETHER_API_KEY",
                "OLLAMA_HOST",
                "HF_TOKEN",
            ]
        ),
        st.text(alphabet="abc123:.", max_size=8),
    ),
    answering=st.none() | st.sets(st.sampled_from(LOCAL)),
)
def test_enabled_means_usable(env: dict[str, str], answering: set[str] | None) -> None:
    for status in preset_statuses(env, answering):
        preset = status.preset
        assert status.reason
        if status.enabled:
            assert preset.enabled_by_default
            assert preset.name in (answering or ()) or preset.key_variable(env) is not None
            preset.provider_fields(env)  # must not raise for an enabled preset


# ---- discovered models -> model tables ----------------------------------------------------------


def test_gemini_discovery_is_filtered_by_globs_and_borrows_known_capabilities(catalog: Catalog) -> None:
    gemini = catalog["gemini"]
    discovered = [
        DiscoveredModel("gemini-2.5-flash", frozenset()),
        DiscoveredModel("gemini-2.5-pro", frozenset()),
        DiscoveredModel("gemini-embedding-001", frozenset()),
        DiscoveredModel("gemini-2.5-flash-preview-tts", frozenset()),
        DiscoveredModel("gemini-3-flash", frozenset()),
        DiscoveredModel("gemma-3-27b-it", frozenset()),
        DiscoveredModel("imagen-4.0-generate-001", frozenset()),
    ]
    tables = {t["name"]: t for t in gemini.discovered_models(discovered)}
    assert list(tables) == ["gemini-2.5-flash", "gemini-3-flash", "gemma-3-27b-it"]
    assert "reasoning" in tables["gemini-2.5-flash"]["capabilities"]  # the known model's
    assert tables["gemini-3-flash"]["capabilities"] == ["json_object", "json_schema", "tools", "vision"]
    assert tables["gemini-3-flash"]["context_length"] == gemini.default_context_length
    assert (tables["gemini-3-flash"]["rpm"], tables["gemini-3-flash"]["rpd"]) == (5, 20)
    assert tables["gemma-3-27b-it"]["rpd"] == 14400


def test_discovered_capabilities_win_over_known_ones(catalog: Catalog) -> None:
    openrouter = catalog["openrouter"]
    tables = openrouter.discovered_models(
        [DiscoveredModel("openai/gpt-oss-20b:free", frozenset({Capability.TOOLS}), 65536)]
    )
    assert tables == [{"name": "openai/gpt-oss-20b:free", "capabilities": ["tools"], "context_length": 65536}]


def test_refresh_adds_and_removes_models(catalog: Catalog) -> None:
    groq = catalog["groq"]
    before = groq.discovered_models(
        [
            DiscoveredModel("openai/gpt-oss-120b", frozenset(), 131072),
            DiscoveredModel("llama-3.1-8b-instant", frozenset(), 131072),
        ]
    )
    after = groq.discovered_models(
        [
            DiscoveredModel("openai/gpt-oss-120b", frozenset(), 131072),
            DiscoveredModel("qwen/qwen3.5-27b", frozenset(), 131072),
            DiscoveredModel("whisper-large-v3-turbo", frozenset(), 448),
        ]
    )
    assert [t["name"] for t in before] == ["openai/gpt-oss-120b", "llama-3.1-8b-instant"]
    assert [t["name"] for t in after] == ["openai/gpt-oss-120b", "qwen/qwen3.5-27b"]
    assert after[1]["capabilities"] == ["json_object", "tools"]  # groq's defaults
    assert (after[1]["rpm"], after[1]["rpd"]) == (30, 1000)


def test_provider_defaults_join_discovered_capabilities(catalog: Catalog) -> None:
    tables = catalog["ollama"].discovered_models(
        [DiscoveredModel("qwen3:8b", frozenset({Capability.TOOLS}), None)]
    )
    assert tables == [
        {
            "name": "qwen3:8b",
            "capabilities": ["json_object", "json_schema", "tools"],
            "context_length": 4096,
        }
    ]


def test_low_priority_weight_is_carried(catalog: Catalog) -> None:
    tables = catalog["huggingface"].discovered_models([DiscoveredModel("Qwen/Qwen3-8B", frozenset(), 40960)])
    assert tables[0]["weight"] == 0.2


def test_the_shipped_file_is_plain_toml() -> None:
    from importlib import resources

    data = tomllib.loads(resources.files("providers").joinpath("catalog.toml").read_text())
    assert set(data) == set(HOSTED + RETIRED + LOCAL)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '[x]\napi="openai"\nbase_url="u"\napi_key_env="K"\ndiscover="magic"\n'
            'default_context_length=1\ndaily_reset_tz="UTC"\ndaily_scope="model"\n',
            "x.discover",
        ),
        (
            '[x]\napi="openai"\nbase_url="u"\napi_key_env="K"\ndiscover="none"\n'
            'default_context_length=1\ndaily_reset_tz="UTC"\ndaily_scope="model"\n'
            '[[x.models]]\nname="m"\ncapabilities=["telepathy"]\ncontext_length=1\n',
            r"x.models\[0\]",
        ),
    ],
)
def test_parse_catalog_names_the_bad_key(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_catalog(text)


def test_preset_status_for_a_custom_preset() -> None:
    preset = Preset(
        name="acme",
        api=Api.OPENAI,
        base_url="https://acme.example/v1",
        api_key_env="ACME_KEY",
        discover="none",
        default_context_length=8192,
        daily_reset_tz="UTC",
        daily_scope="account",
    )
    assert preset_status(preset, {"ACME_KEY": "k"}).enabled
    assert not preset_status(preset, {}).enabled


def test_token_limits_where_providers_publish_them(catalog: Catalog) -> None:
    env = {"CLOUDFLARE_ACCOUNT_ID": "acct"}
    tables = {name: preset.provider_fields(env) for name, preset in catalog.items()}

    def models(name: str) -> dict[str, dict[str, object]]:
        return {m["name"]: m for m in tables[name]["models"]}

    assert {(m["tpm"], m["tpd"]) for m in models("groq").values()} == {(8000, 200000)}
    assert {(m["tpm"], m["tpd"]) for m in models("cerebras").values()} == {(30000, 1000000)}
    assert models("gemini")["gemini-2.5-flash"]["tpm"] == 250000
    assert models("gemini")["gemma-3-27b-it"]["tpm"] == 15000
    assert {m["tpm"] for m in models("mistral").values()} == {500000}
    assert {m["tpd"] for m in models("sambanova").values()} == {200000}
    # The providers whose budget counts the declared max_tokens, and only those.
    assert {n for n, t in tables.items() if t.get("counts_max_tokens")} == {"groq", "cerebras"}
    assert "tpm" not in models("openrouter")["openai/gpt-oss-20b:free"]  # no token limits


def test_discovered_models_get_the_presets_token_limits(catalog: Catalog) -> None:
    found = [DiscoveredModel("openai/gpt-oss-120b", frozenset(), 131072),
             DiscoveredModel("qwen/qwen3-32b", frozenset(), 131072)]
    tables = catalog["groq"].discovered_models(found)
    assert [(t["tpm"], t["tpd"]) for t in tables] == [(8000, 200000)] * 2
