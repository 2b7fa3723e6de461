"""The TOML config, parsed once into frozen dataclasses. Every problem found is reported with the
TOML key it concerns, all at once, as a ConfigError."""

from __future__ import annotations

import fnmatch
import math
import ssl
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from router.state.backends import NEEDS_URL, STORES
from router.state.resp import Target
from router.types import DISCOVERY_METHODS, Api, Backend, Capability
from router.wire import UPSTREAM_APIS


class ConfigError(Exception):
    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    client_keys_env: str | None = None
    client_rpm: int | None = None  # per client key, shared like every budget (an extension)
    max_body_bytes: int = 10 * 1024 * 1024
    shutdown_delay_s: float = 5.0
    drain_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    min_output_tokens: int = 1024
    # When every capable backend cools down or is over budget, wait up to this long for the
    # soonest to recover before answering 503 (an extension; 0, the default, answers at once
    # as INTERFACE.md says).
    max_queue_s: float = 0.0
    discovery_interval_s: float = 3600.0  # how often discovering providers re-list their models


@dataclass(frozen=True, slots=True)
class HealthConfig:
    probe_interval_s: float = 30.0
    probe_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class StateConfig:
    backend: str = "memory"  # a key of router.state.backends.STORES
    url_env: str = "FREEROUTER_REDIS_URL"
    key_prefix: str = "freerouter:"
    timeout_ms: float = 50.0
    response_ttl_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    capabilities: frozenset[Capability] = frozenset()
    context_length: int = 8192
    weight: float = 1.0
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None  # tokens (prompt + completion) per minute / per day
    tpd: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    api: Api
    base_url: str
    api_key_env: str | None = None
    preset: str | None = None
    discover: str = "none"
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None
    # The upstream counts a request's declared max_tokens against its token budgets (Groq,
    # Cerebras), so the router declares no more output than the budget has left (an extension).
    counts_max_tokens: bool = False
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    include: tuple[str, ...] = ()  # globs over discovered model names; none: every one
    exclude: tuple[str, ...] = ()
    discovery_interval_s: float | None = None  # None: [routing] discovery_interval_s
    total_timeout_s: float = 600.0  # a whole exchange, streams included (an extension)
    models: tuple[ModelConfig, ...] = ()

    def backends(self) -> tuple[Backend, ...]:
        return tuple(
            Backend(
                id=f"{self.name}/{m.name}", provider=self.name, model=m.name, api=self.api,
                capabilities=m.capabilities, context_length=m.context_length, weight=m.weight,
                rpm=m.rpm, rpd=m.rpd, tpm=m.tpm, tpd=m.tpd,
                counts_max_tokens=self.counts_max_tokens,
            )
            for m in self.models
        )


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    strategy: str = "random"
    backends: tuple[str, ...] = ("*",)
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = ServerConfig()
    routing: RoutingConfig = RoutingConfig()
    health: HealthConfig = HealthConfig()
    providers: tuple[ProviderConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()  # (glob, target), in file order
    source: str = "<built-in>"
    keys: Mapping[str, str] = field(default_factory=dict)  # provider name -> upstream key
    client_keys: Mapping[str, str] = field(default_factory=dict)  # client key -> its name
    state: StateConfig = StateConfig()
    state_url: str | None = None  # from [state] url_env: holds the store's password, if any

    def backends(self) -> tuple[Backend, ...]:
        return tuple(b for p in self.providers for b in p.backends())

    @property
    def state_secrets(self) -> tuple[str, ...]:
        """The store URL and its password, when it has one: never in a log line, an error body
        or a metric. (A URL without one holds nothing secret, and logs name the store by it.)"""
        password = urlsplit(self.state_url).password if self.state_url else None
        return (self.state_url, password) if self.state_url and password else ()


DEFAULT_ROUTE = RouteConfig(name="free")


def state_changes(running: Config, new: Config) -> tuple[str, ...]:
    """The [state] keys `new` sets otherwise than `running` (the config the store was built
    from): a reload cannot apply them, the store being the replicas' meeting point. A URL
    changed behind the same url_env counts as url_env (the URL itself is never named)."""
    changed = [f"state.{f.name}" for f in fields(StateConfig)
               if getattr(running.state, f.name) != getattr(new.state, f.name)]
    if running.state_url != new.state_url and "state.url_env" not in changed:
        changed.append("state.url_env")
    return tuple(changed)

# preset name -> a function giving its provider fields, as TOML keys (ValueError: unusable here)
Presets = Mapping[str, Callable[[], Mapping[str, Any]]]


def load(
    path: str | Path,
    env: Mapping[str, str],
    strategies: Sequence[str],
    presets: Presets | None = None,
) -> Config:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse(raw, env, strategies, presets or {}, source=str(path))


def parse(
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    strategies: Sequence[str],
    presets: Presets,
    source: str = "<config>",
) -> Config:
    p = _Parser()
    p.check_keys(raw, "", {"server", "routing", "health", "state", "providers", "routes", "aliases"})
    server = p.section(raw, "server", ServerConfig, {
        "client_keys_env": str, "client_rpm": int, "max_body_bytes": int,
        "shutdown_delay_s": float, "drain_timeout_s": float,
    })
    p.budgets({"client_rpm": server.client_rpm}, "server", ("client_rpm",))
    routing = p.section(raw, "routing", RoutingConfig, {
        "min_output_tokens": int, "discovery_interval_s": float, "max_queue_s": float,
    })
    if routing.discovery_interval_s <= 0:
        p.err("routing.discovery_interval_s", "must be positive")
    health = p.section(raw, "health", HealthConfig, {
        "probe_interval_s": float, "probe_timeout_s": float,
    })
    state = p.section(raw, "state", StateConfig, {
        "backend": str, "url_env": str, "key_prefix": str, "timeout_ms": float,
        "response_ttl_s": float,
    })
    state_url = p.state(state, env)
    tables = p.table_list(raw, "providers")
    p.duplicates(tables)
    providers = tuple(
        prov for i, t in enumerate(tables)
        if (prov := p.provider(t, f"providers[{i}]", presets)) is not None
    )
    backends = [b for prov in providers for b in prov.backends()]
    # Backends of discovering providers are only known at run time: a glob or alias aimed at
    # one of those providers is fine even when it matches nothing yet.
    p.discovering = tuple(prov.name for prov in providers if prov.discover != "none")
    routes = tuple(
        r for i, t in enumerate(p.table_list(raw, "routes"))
        if (r := p.route(t, f"routes[{i}]", [b.id for b in backends], strategies)) is not None
    ) or (DEFAULT_ROUTE,)
    p.unique([r.name for r in routes], "routes", "name")
    for r in routes:
        if r.name in {b.id for b in backends}:
            p.err("routes", f"route name {r.name!r} is also a backend id")
    aliases = p.aliases(raw.get("aliases", {}), {r.name for r in routes} | {b.id for b in backends})
    keys = p.keys(providers, env)
    client_keys = p.client_keys(server.client_keys_env, env)
    if p.errors:
        raise ConfigError(p.errors)
    return Config(server, routing, health, providers, routes, aliases, source, keys, client_keys,
                  state=state, state_url=state_url)


_Fields = dict[str, type]
BUDGET_KEYS = ("rpm", "rpd", "tpm", "tpd")
MAX_BUDGET = 10**12
MAX_BUDGET_WORD = "1e12"
# [state] values the store is handed: a Redis expiry or a store call's bound beyond these is a
# mistake (and past Redis's own range a failure on every call).
STATE_MAXIMA: Mapping[str, tuple[float, str]] = {
    "timeout_ms": (60_000.0, "60000 (a minute)"),
    "response_ttl_s": (30 * 86400.0, "2592000 (30 days, as long as OpenAI keeps a response)"),
}


class _Parser:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.discovering: tuple[str, ...] = ()

    def err(self, key: str, message: str) -> None:
        self.errors.append(f"{key}: {message}")

    def check_keys(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        for k in table:
            if k not in allowed:
                self.err(f"{prefix}{k}", "unknown key")

    def value(self, table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
        v = table[key]
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            self.err(where, f"expected {_TYPE_NAMES[kind]}, got {_TYPE_NAMES.get(type(v), type(v).__name__)}")
            return None
        if isinstance(v, float) and not math.isfinite(v):
            self.err(where, "must be a finite number")
            return None
        if isinstance(v, int | float) and v < 0:
            self.err(where, "must not be negative")
            return None
        return v

    def fields(self, table: Mapping[str, Any], prefix: str, spec: _Fields) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, kind in spec.items():
            if key in table:
                v = self.value(table, key, kind, f"{prefix}.{key}")
                if v is not None:
                    out[key] = v
        return out

    def budgets(self, opts: dict[str, Any], where: str, keys: Sequence[str] = BUDGET_KEYS) -> None:
        """Drop (and report) the budgets among `keys` in `opts` that are 0 (no request could
        ever be sent) or over MAX_BUDGET (no provider has such a limit, and the store counts
        in floating point, exact only well below 2^53)."""
        for key in keys:
            value = opts.get(key)
            if value == 0:
                self.err(f"{where}.{key}", "must be positive")
            elif value is not None and value > MAX_BUDGET:
                self.err(f"{where}.{key}", f"must be at most {MAX_BUDGET_WORD}")
            else:
                continue
            del opts[key]

    def section(self, raw: Mapping[str, Any], name: str, cls: Any, spec: _Fields) -> Any:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            self.err(name, "expected a table")
            return cls()
        self.check_keys(table, f"{name}.", set(spec))
        return cls(**self.fields(table, name, spec))

    def table_list(self, raw: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        v = raw.get(name, [])
        if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
            self.err(name, f"expected an array of tables ([[{name}]])")
            return []
        return v

    def provider(self, t: dict[str, Any], where: str, presets: Presets) -> ProviderConfig | None:
        preset = t.get("preset")
        if preset is not None:
            if not isinstance(preset, str) or preset not in presets:
                known = ", ".join(sorted(presets)) or "none"
                self.err(f"{where}.preset", f"unknown preset {preset!r} (known: {known})")
                return None
            try:
                t = {**presets[preset](), **t}
            except ValueError as exc:
                self.err(f"{where}.preset", str(exc))
                return None
        self.check_keys(t, f"{where}.", set(_PROVIDER_FIELDS) | set(_PROVIDER_GLOBS)
                        | {"models", "name", "api", "base_url"})
        missing = [k for k in ("name", "api", "base_url") if k not in t]
        for k in missing:
            self.err(f"{where}.{k}", "required")
        if missing:
            return None
        name = self.value(t, "name", str, f"{where}.name")
        base_url = self.value(t, "base_url", str, f"{where}.base_url")
        api = self.api(t["api"], f"{where}.api")
        if name is not None and ("/" in name or not name):
            self.err(f"{where}.name", f"{name!r} must be non-empty and contain no '/'")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            self.err(f"{where}.base_url", f"{base_url!r} is not an http(s) URL")
        opts = self.fields(t, where, _PROVIDER_FIELDS)
        self.budgets(opts, where)
        opts.update({k: self.globs(t[k], f"{where}.{k}") for k in _PROVIDER_GLOBS if k in t})
        discover = opts.get("discover", "none")
        if discover not in DISCOVERY_METHODS:
            known = ", ".join(sorted(DISCOVERY_METHODS))
            self.err(f"{where}.discover", f"unknown discovery method {discover!r} (known: {known})")
            opts.pop("discover")
        if opts.get("discovery_interval_s", 1.0) <= 0:
            self.err(f"{where}.discovery_interval_s", "must be positive")
        models = t.get("models", [])
        if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
            self.err(f"{where}.models", "expected an array of tables ([[providers.models]])")
            models = []
        parsed = tuple(
            m for j, mt in enumerate(models)
            if (m := self.model(mt, f"{where}.models[{j}]")) is not None
        )
        if not parsed and discover == "none":
            self.err(f"{where}.models", "no models, and discover is \"none\"")
        if name is None or base_url is None or api is None:
            return None
        return ProviderConfig(name=name, api=api, base_url=base_url.rstrip("/"), models=parsed, **opts)

    def globs(self, v: Any, where: str) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(g, str) for g in v):
            self.err(where, "expected an array of glob strings")
            return ()
        return tuple(v)

    def api(self, v: Any, where: str) -> Api | None:
        found = next((api for api in UPSTREAM_APIS if api.value == v), None)
        if found is None:
            words = ", ".join(api.value for api in Api if api in UPSTREAM_APIS)
            self.err(where, f"{v!r} is not one of: {words}")
        return found

    def model(self, t: dict[str, Any], where: str) -> ModelConfig | None:
        self.check_keys(t, f"{where}.", set(_MODEL_FIELDS) | {"name", "capabilities"})
        if "name" not in t:
            self.err(f"{where}.name", "required")
            return None
        name = self.value(t, "name", str, f"{where}.name")
        caps = self.capabilities(t.get("capabilities", []), f"{where}.capabilities")
        opts = self.fields(t, where, _MODEL_FIELDS)
        self.budgets(opts, where)
        if opts.get("context_length", 1) <= 0:
            self.err(f"{where}.context_length", "must be positive")
        if name is None:
            return None
        return ModelConfig(name=name, capabilities=caps, **opts)

    def capabilities(self, v: Any, where: str) -> frozenset[Capability]:
        if not isinstance(v, list):
            self.err(where, "expected an array of strings")
            return frozenset()
        out = set()
        for c in v:
            try:
                out.add(Capability(c))
            except ValueError:
                words = ", ".join(x.value for x in Capability)
                self.err(where, f"unknown capability {c!r} (known: {words})")
        return frozenset(out)

    def route(
        self, t: dict[str, Any], where: str, backend_ids: list[str], strategies: Sequence[str]
    ) -> RouteConfig | None:
        self.check_keys(t, f"{where}.", {"name", "strategy", "backends", "max_attempts"})
        if "name" not in t:
            self.err(f"{where}.name", "required")
            return None
        name = self.value(t, "name", str, f"{where}.name")
        opts = self.fields(t, where, {"strategy": str, "max_attempts": int})
        if opts.get("strategy", "random") not in strategies:
            self.err(f"{where}.strategy",
                     f"{opts['strategy']!r} is not registered (known: {', '.join(sorted(strategies))})")
        if opts.get("max_attempts", 1) < 1:
            self.err(f"{where}.max_attempts", "must be at least 1")
        globs = t.get("backends", ["*"])
        if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
            self.err(f"{where}.backends", "expected an array of glob strings")
            return None
        for g in globs:
            later = any(fnmatch.fnmatchcase(prov, g.split("/", 1)[0]) for prov in self.discovering)
            if not later and backend_ids and not any(fnmatch.fnmatchcase(b, g) for b in backend_ids):
                self.err(f"{where}.backends", f"glob {g!r} matches no backend")
        if name is None:
            return None
        return RouteConfig(name=name, backends=tuple(globs), **opts)

    def aliases(self, v: Any, targets: set[str]) -> tuple[tuple[str, str], ...]:
        if not isinstance(v, dict):
            self.err("aliases", "expected a table of \"glob\" = \"route or backend id\"")
            return ()
        out = []
        for glob, target in v.items():
            if not isinstance(target, str):
                self.err(f"aliases.{glob!r}", "expected a string")
            elif target not in targets and not target.startswith(
                tuple(f"{prov}/" for prov in self.discovering)
            ):
                self.err(f"aliases.{glob!r}", f"{target!r} is neither a route nor a backend id")
            else:
                out.append((glob, target))
        return tuple(out)

    def duplicates(self, tables: list[dict[str, Any]]) -> None:
        """Duplicate provider names and backend ids, found on the raw tables so that one
        provider's other errors do not hide them."""
        names: set[object] = set()
        ids: set[str] = set()
        for i, t in enumerate(tables):
            name = t.get("name")
            if name in names:
                self.err(f"providers[{i}].name", f"duplicate provider name {name!r}")
            names.add(name)
            models = t.get("models")
            for j, m in enumerate(models if isinstance(models, list) else []):
                bid = f"{name}/{m.get('name')}" if isinstance(m, dict) else ""
                if bid in ids:
                    self.err(f"providers[{i}].models[{j}].name", f"duplicate backend id {bid!r}")
                ids.add(bid)

    def unique(self, names: list[str], where: str, what: str) -> None:
        seen: set[str] = set()
        for n in names:
            if n in seen:
                self.err(where, f"duplicate {what} {n!r}")
            seen.add(n)

    def state(self, state: StateConfig, env: Mapping[str, str]) -> str | None:
        """The [state] table checked, and the store URL its url_env names (when one is needed)."""
        if state.backend not in STORES:
            known = ", ".join(sorted(STORES))
            self.err("state.backend", f"unknown state store {state.backend!r} (known: {known})")
        for key, (most, word) in STATE_MAXIMA.items():
            if getattr(state, key) <= 0:
                self.err(f"state.{key}", "must be positive")
            elif getattr(state, key) > most:
                self.err(f"state.{key}", f"must be at most {word}")
        if not state.key_prefix:
            self.err("state.key_prefix", "must not be empty")
        if state.backend not in NEEDS_URL:
            return None
        url = env.get(state.url_env)
        if not url:
            self.err("state.url_env", f"environment variable {state.url_env} is not set "
                                      f"(backend {state.backend!r} needs the store's URL)")
            return None
        try:
            target = Target.parse(url)  # its errors never echo the URL: it may hold a password
        except ValueError as exc:
            self.err("state.url_env", f"{state.url_env}: {exc}")
            return None
        if not (target.path or urlsplit(url).hostname):
            self.err("state.url_env", f"{state.url_env}: a Redis URL names a host or a socket")
            return None
        try:
            target.tls_context()  # reads ssl_ca_certs now, not when the first call connects
        except (OSError, ssl.SSLError) as exc:
            self.err("state.url_env", f"{state.url_env}: its ssl_ca_certs cannot be read as "
                                      f"certificates ({type(exc).__name__})")
            return None
        return url

    def client_keys(self, var: str | None, env: Mapping[str, str]) -> dict[str, str]:
        """FREEROUTER_CLIENT_KEYS-style "name1:key1,name2:key2" -> {key: name}."""
        if var is None:
            return {}
        where = "server.client_keys_env"
        value = env.get(var)
        if not value:
            self.err(where, f"environment variable {var} is not set")
            return {}
        out: dict[str, str] = {}
        for i, entry in enumerate(e.strip() for e in value.split(",") if e.strip()):
            name, sep, key = entry.partition(":")
            if not sep or not name or not key:
                # Never echo the entry: it holds a key.
                self.err(where, f"entry {i + 1} of {var} is not name:key")
            elif key in out:
                self.err(where, f"entry {i + 1} of {var} repeats a key")
            else:
                out[key] = name
        return out

    def keys(self, providers: tuple[ProviderConfig, ...], env: Mapping[str, str]) -> dict[str, str]:
        keys = {}
        for i, prov in enumerate(providers):
            if prov.api_key_env is None:
                continue
            value = env.get(prov.api_key_env)
            if value:
                keys[prov.name] = value
            else:
                self.err(f"providers[{i}].api_key_env",
                         f"environment variable {prov.api_key_env} is not set")
        return keys


_PROVIDER_FIELDS: _Fields = {
    "api_key_env": str, "preset": str, "discover": str,
    "rpm": int, "rpd": int, "tpm": int, "tpd": int, "counts_max_tokens": bool, "timeout_s": float,
    "connect_timeout_s": float, "total_timeout_s": float, "discovery_interval_s": float,
}
_PROVIDER_GLOBS = ("include", "exclude")
_MODEL_FIELDS: _Fields = {
    "context_length": int, "weight": float, "rpm": int, "rpd": int, "tpm": int, "tpd": int,
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "an array", dict: "a table"}
