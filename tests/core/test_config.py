"""Config parsing: valid TOML becomes frozen dataclasses; every error names its TOML key, and all
errors are reported at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from router.config import (
    ConfigError,
    HealthConfig,
    ModelConfig,
    ProviderConfig,
    RoutingConfig,
    ServerConfig,
    StateConfig,
    load,
    parse,
)
from router.types import Api, Capability

STRATEGIES = ["random", "weighted", "sticky"]
GOOD = """
[server]
client_keys_env = "CLIENT_KEYS"
max_body_bytes = 1000000

[routing]
min_output_tokens = 512

[[providers]]
name = "groq"
api = "openai"
base_url = "https://api.groq.com/openai/v1/"
api_key_env = "GROQ_API_KEY"
rpm = 30

  [[providers.models]]
  name = "llama-3.3-70b-versatile"
  capabilities = ["tools", "json_object"]
  context_length = 131072
  weight = 2

[[providers]]
name = "claude"
api = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "ANTHROPIC_API_KEY"
  [[providers.models]]
  name = "claude-haiku"

[[routes]]
name = "free"
strategy = "sticky"
backends = ["groq/*"]
max_attempts = 2

[aliases]
"claude-*" = "free"
"""
ENV = {"GROQ_API_KEY": "gsk", "ANTHROPIC_API_KEY": "sk-ant", "CLIENT_KEYS": "alice:k1,bob:k2"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_good_config_is_parsed_into_frozen_dataclasses(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD), ENV, STRATEGIES)
    groq = config.providers[0]
    assert groq.base_url == "https://api.groq.com/openai/v1"  # trailing slash dropped
    assert groq.api is Api.OPENAI and groq.rpm == 30
    model = groq.models[0]
    assert model.capabilities == {Capability.TOOLS, Capability.JSON_OBJECT}
    assert model.weight == 2.0 and model.context_length == 131072
    assert [b.id for b in config.backends()] == ["groq/llama-3.3-70b-versatile", "claude/claude-haiku"]
    assert config.routes[0].max_attempts == 2 and config.routing.min_output_tokens == 512
    assert config.aliases == (("claude-*", "free"),)
    assert config.keys == {"groq": "gsk", "claude": "sk-ant"}
    assert config.client_keys == {"k1": "alice", "k2": "bob"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.providers[0].name = "x"  # type: ignore[misc]  # the frozen dataclass's runtime guard


def test_defaults_give_a_free_route_over_everything() -> None:
    config = parse({"providers": [{"name": "p", "api": "openai", "base_url": "http://h/v1",
                                   "models": [{"name": "m"}]}]}, {}, STRATEGIES, {})
    assert [(r.name, r.strategy, r.backends) for r in config.routes] == [("free", "random", ("*",))]
    assert config.server.drain_timeout_s == 60.0 and config.health.probe_interval_s == 30.0


def test_every_error_names_its_key_and_all_are_reported(tmp_path: Path) -> None:
    bad = """
typo = 1
[server]
max_body_bytes = "big"
[[providers]]
name = "p"
api = "grpc"
base_url = "ftp://x"
api_key_env = "MISSING_KEY"
  [[providers.models]]
  name = "m"
  capabilities = ["tools", "telepathy"]
  context_length = 0
  colour = "red"
[[providers]]
name = "p"
api = "openai"
base_url = "http://ok/v1"
  [[providers.models]]
  name = "m"
[[routes]]
name = "free"
strategy = "round-robin"
backends = ["nothing/*"]
[aliases]
"x" = "no-such-route"
"""
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, bad), {}, STRATEGIES)
    text = "\n".join(err.value.errors)
    for expected in [
        "typo: unknown key",
        "server.max_body_bytes: expected an integer, got a string",
        "providers[0].api: 'grpc' is not one of: openai, anthropic",
        "providers[0].base_url: 'ftp://x' is not an http(s) URL",
        "providers[0].models[0].capabilities: unknown capability 'telepathy'",
        "providers[0].models[0].context_length: must be positive",
        "providers[0].models[0].colour: unknown key",
        "providers[1].name: duplicate provider name 'p'",
        "providers[1].models[0].name: duplicate backend id 'p/m'",
        "routes[0].strategy: 'round-robin' is not registered",
        "routes[0].backends: glob 'nothing/*' matches no backend",
        "aliases.'x': 'no-such-route' is neither a route nor a backend id",
    ]:
        assert expected in text, expected


def test_a_missing_key_variable_is_an_error_without_the_key() -> None:
    raw = {"providers": [{"name": "p", "api": "openai", "base_url": "http://h/v1",
                          "api_key_env": "P_KEY", "models": [{"name": "m"}]}],
           "server": {"client_keys_env": "CK"}}
    with pytest.raises(ConfigError) as err:
        parse(raw, {"CK": "no-colon-secret"}, STRATEGIES, {})
    assert "providers[0].api_key_env: environment variable P_KEY is not set" in err.value.errors
    assert any(e.startswith("server.client_keys_env: entry 1") for e in err.value.errors)
    assert "no-colon-secret" not in str(err.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[[providers]\n"), {}, STRATEGIES)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.toml", {}, STRATEGIES)


def test_a_provider_without_models_and_without_discovery_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"providers\[0\].models: no models"):
        parse({"providers": [{"name": "p", "api": "openai", "base_url": "http://h/v1"}]},
              {}, STRATEGIES, {})


def test_check_command_prints_the_pool_or_every_error(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD)
    env = {**ENV, "PATH": ""}
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(good)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "groq/llama-3.3-70b-versatile" in run.stdout and "sticky" in run.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[routes]]\nname = "free"\nstrategy = "nope"\n')
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(bad)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1
    assert "routes[0].strategy: 'nope' is not registered" in run.stderr


def test_serve_without_any_provider_says_what_would_fix_it() -> None:
    run = subprocess.run([sys.executable, "-m", "router", "serve", "--port", "0"],
                         capture_output=True, text=True, env={"PATH": ""}, timeout=60)
    assert run.returncode != 0
    assert "FREEROUTER_CONFIG" in run.stderr and "OPENROUTER_API_KEY" in run.stderr


def test_routes_and_aliases_may_aim_at_backends_discovery_will_find() -> None:
    raw = {"providers": [
        {"name": "static", "api": "openai", "base_url": "http://h/v1", "models": [{"name": "m"}]},
        {"name": "ollama", "api": "openai", "base_url": "http://h/v1", "discover": "ollama"}],
        "routes": [{"name": "local", "backends": ["ollama/*"]}],
        "aliases": {"llama": "ollama/llama3:8b"}}
    config = parse(raw, {}, STRATEGIES, {})
    assert config.aliases == (("llama", "ollama/llama3:8b"),)
    with pytest.raises(ConfigError, match="matches no backend"):
        parse({**raw, "routes": [{"name": "x", "backends": ["nothere/*"]}]}, {}, STRATEGIES, {})


# -- [state] ---------------------------------------------------------------------------------

ONE_PROVIDER = {"providers": [{"name": "p", "api": "openai", "base_url": "http://h/v1",
                               "models": [{"name": "m"}]}]}


def test_state_defaults_to_memory_and_needs_no_url() -> None:
    config = parse(ONE_PROVIDER, {}, STRATEGIES, {})
    assert (config.state.backend, config.state.key_prefix, config.state.timeout_ms,
            config.state.response_ttl_s) == ("memory", "freerouter:", 50.0, 3600.0)
    assert config.state_url is None and config.state_secrets == ()


def test_a_redis_state_reads_its_url_from_the_environment() -> None:
    raw = {**ONE_PROVIDER, "state": {"backend": "redis", "url_env": "MY_REDIS",
                                     "key_prefix": "fr:", "timeout_ms": 20,
                                     "response_ttl_s": 600}}
    url = "redis://:hunter2-pass@redis.svc:6379/0"
    config = parse(raw, {"MY_REDIS": url}, STRATEGIES, {})
    assert config.state_url == url and config.state.timeout_ms == 20.0
    # The URL and its password are secrets: redacted wherever keys are.
    assert config.state_secrets == (url, "hunter2-pass")


def test_every_state_error_names_its_key_and_never_the_url() -> None:
    raw = {**ONE_PROVIDER, "state": {"backend": "etcd", "timeout_ms": 0, "key_prefix": "",
                                     "response_ttl_s": -1, "colour": "red"}}
    with pytest.raises(ConfigError) as err:
        parse(raw, {}, STRATEGIES, {})
    errors = err.value.errors
    assert "state.colour: unknown key" in errors
    assert "state.backend: unknown state store 'etcd' (known: memory, redis)" in errors
    assert "state.timeout_ms: must be positive" in errors
    assert "state.key_prefix: must not be empty" in errors
    assert "state.response_ttl_s: must not be negative" in errors
    with pytest.raises(ConfigError) as err:
        parse({**ONE_PROVIDER, "state": {"backend": "redis"}}, {}, STRATEGIES, {})
    assert err.value.errors == ["state.url_env: environment variable FREEROUTER_REDIS_URL is "
                                "not set (backend 'redis' needs the store's URL)"]
    for secret, problem in [
        ("http://user:topsecret@host:6379", "a Redis URL starts with redis://, rediss://, unix://"),
        ("redis://:topsecret@host/?timeout=1", "unknown Redis URL parameter 'timeout' (known: db, "
                                              "password, ssl_ca_certs, ssl_cert_reqs)"),
        # urlsplit's own error would quote the whole address, password included.
        ("redis://:top\uff03secret@host", "not a valid Redis URL"),
        ("rediss://:topsecret@host?ssl_ca_certs=/nowhere/ca.pem",
         "its ssl_ca_certs cannot be read as certificates (FileNotFoundError)"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse({**ONE_PROVIDER, "state": {"backend": "redis"}},
                  {"FREEROUTER_REDIS_URL": secret}, STRATEGIES, {})
        assert err.value.errors == [f"state.url_env: FREEROUTER_REDIS_URL: {problem}"]
        assert "topsecret" not in str(err.value) and "secret" not in str(err.value)


def test_check_shows_the_state_store_without_its_password(tmp_path: Path) -> None:
    config = write(tmp_path, GOOD + '\n[state]\nbackend = "redis"\nkey_prefix = "fr1:"\n')
    env = {**ENV, "PATH": "", "FREEROUTER_REDIS_URL": "redis://:pa55w0rd-x@cache:6380/2"}
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(config)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "redis at redis://cache:6380/2 (from FREEROUTER_REDIS_URL), key_prefix 'fr1:'" in run.stdout
    assert "pa55w0rd-x" not in run.stdout + run.stderr


TOKENS = """
[[providers]]
name = "groq"
api = "openai"
base_url = "https://api.groq.com/openai/v1"
api_key_env = "GROQ_API_KEY"
tpm = 30000
tpd = 1000000
counts_max_tokens = true

  [[providers.models]]
  name = "openai/gpt-oss-20b"
  tpm = 8000
  tpd = 200000
"""


def test_token_budgets_on_providers_and_models() -> None:
    config = parse(_toml(TOKENS), ENV, STRATEGIES, {})
    groq = config.providers[0]
    assert (groq.tpm, groq.tpd, groq.counts_max_tokens) == (30000, 1000000, True)
    (backend,) = config.backends()
    assert (backend.tpm, backend.tpd, backend.counts_max_tokens) == (8000, 200000, True)
    plain = parse(_toml(GOOD), ENV, STRATEGIES, {}).backends()[0]
    assert (plain.tpm, plain.tpd, plain.counts_max_tokens) == (None, None, False)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("tpm", '"lots"', "providers[0].tpm: expected an integer, got a string"),
    ("tpm", "-5", "providers[0].tpm: must not be negative"),
    ("tpm", "0", "providers[0].tpm: must be positive"),
    ("tpd", "1.5", "providers[0].tpd: expected an integer, got a number"),
    ("counts_max_tokens", '"yes"', "providers[0].counts_max_tokens: expected a boolean, got a string"),
    ("models.tpm", "0", "providers[0].models[0].tpm: must be positive"),
    ("models.tpd", "true", "providers[0].models[0].tpd: expected an integer, got a boolean"),
])
def test_a_bad_token_budget_is_an_error_naming_its_key(key: str, value: str, message: str) -> None:
    raw = _toml(TOKENS)
    table = raw["providers"][0]
    if key.startswith("models."):
        table = table["models"][0]
    table[key.removeprefix("models.")] = _toml(f"v = {value}")["v"]
    with pytest.raises(ConfigError) as err:
        parse(raw, ENV, STRATEGIES, {})
    assert message in err.value.errors


def test_check_shows_the_token_budgets(tmp_path: Path) -> None:
    config = write(tmp_path, TOKENS)
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(config)],
                         capture_output=True, text=True, env={**ENV, "PATH": ""}, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("provider "))
    assert header.split()[-4:] == ["tpm", "tpd", "counts", "max_tokens"]
    row = next(ln for ln in lines if ln.startswith("groq "))
    assert row.split()[-3:] == ["30000", "1000000", "yes"]
    backend = next(ln for ln in lines if ln.startswith("groq/openai/gpt-oss-20b"))
    assert backend.split()[-2:] == ["8000", "200000"]
    bad = write(tmp_path, TOKENS.replace("tpm = 8000", 'tpm = "8k"'))
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(bad)],
                         capture_output=True, text=True, env={**ENV, "PATH": ""}, timeout=60)
    assert run.returncode == 1
    assert "providers[0].models[0].tpm: expected an integer, got a string" in run.stderr


def _toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


# -- numbers out of range --------------------------------------------------------------------

# Every float key, found on the dataclasses: a float key added later is covered too.
SECTIONS = {"server": ServerConfig, "routing": RoutingConfig, "health": HealthConfig,
            "state": StateConfig, "providers[0]": ProviderConfig,
            "providers[0].models[0]": ModelConfig}
FLOAT_KEYS = [(where, f.name) for where, cls in SECTIONS.items()
              for f in dataclasses.fields(cls) if f.type in ("float", "float | None")]


def _with(where: str, key: str, value: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"providers": [{"name": "p", "api": "openai", "base_url": "http://h/v1",
                                          "models": [{"name": "m"}]}]}
    if where.startswith("providers"):
        table = raw["providers"][0]
        table = table["models"][0] if where.endswith("models[0]") else table
    else:
        table = raw.setdefault(where, {})
    table[key] = value
    return raw


def test_every_float_key_is_found() -> None:
    keys = {key for _, key in FLOAT_KEYS}
    assert {"probe_interval_s", "shutdown_delay_s", "timeout_ms", "response_ttl_s", "weight",
            "timeout_s", "max_queue_s"} <= keys


@pytest.mark.parametrize(("where", "key"), FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_no_float_key_takes_nan_or_infinity(where: str, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(_with(where, key, _toml(f"v = {value}")["v"]), {}, STRATEGIES, {})
    assert f"{where}.{key}: must be a finite number" in err.value.errors


@pytest.mark.parametrize(("key", "value", "message"), [
    ("timeout_ms", 60_001, "state.timeout_ms: must be at most 60000 (a minute)"),
    ("response_ttl_s", 1e300, "state.response_ttl_s: must be at most 2592000 (30 days"),
    ("response_ttl_s", 0, "state.response_ttl_s: must be positive"),
])
def test_state_values_the_store_is_handed_are_bounded(key: str, value: float,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(_with("state", key, value), {}, STRATEGIES, {})
    assert any(e.startswith(message) for e in err.value.errors), err.value.errors
    config = parse(_with("state", key, {"timeout_ms": 60_000, "response_ttl_s": 2592000}[key]),
                   {}, STRATEGIES, {})
    assert getattr(config.state, key) > 0


BUDGET_PLACES = [(where, key) for where in ("providers[0]", "providers[0].models[0]")
                 for key in ("rpm", "rpd", "tpm", "tpd")] + [("server", "client_rpm")]


@pytest.mark.parametrize(("where", "key"), BUDGET_PLACES)
def test_every_budget_is_positive_and_at_most_a_trillion(where: str, key: str) -> None:
    for value, message in [(0, "must be positive"), (10**12 + 1, "must be at most 1e12"),
                           (99999999999999999999999, "must be at most 1e12")]:
        with pytest.raises(ConfigError) as err:
            parse(_with(where, key, value), {}, STRATEGIES, {})
        assert err.value.errors == [f"{where}.{key}: {message}"]
    parse(_with(where, key, 10**12), {}, STRATEGIES, {})


def test_check_refuses_a_budget_past_the_bound(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("rpm = 30", "rpm = 99999999999999999999999"))
    run = subprocess.run([sys.executable, "-m", "router", "check", "--config", str(bad)],
                         capture_output=True, text=True, env={**ENV, "PATH": ""}, timeout=60)
    assert run.returncode == 1
    assert "providers[0].rpm: must be at most 1e12" in run.stderr
