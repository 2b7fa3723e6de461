"""The built-in catalog of free providers: presets parsed once from catalog.toml.

A preset supplies the fields of a `[[providers]]` table (INTERFACE.md) so the config parser can put
a user's own keys on top of it, and says whether it should be on for a given environment."""

from __future__ import annotations

import asyncio
import functools
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from providers.discovery import DISCOVERY_METHODS, answers
from providers.http11 import Http11Transport
from providers.model_lists import DiscoveredModel, matches_globs
from providers.transport import Timeouts
from router.types import Api, Capability

_CATALOG_FILE = "catalog.toml"
_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")


class PresetError(ValueError):
    """A preset cannot be turned into a provider in this environment (a variable is missing)."""


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A model the catalog knows without discovery, so a preset works offline."""

    name: str
    capabilities: frozenset[Capability]
    context_length: int
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    """One catalog entry; catalog.toml's header comment says what each field means."""

    name: str
    api: Api
    base_url: str  # may hold ${VAR} placeholders
    api_key_env: str
    discover: str
    default_context_length: int
    daily_reset_tz: str
    daily_scope: str  # "account" | "model"
    api_key_fallbacks: tuple[str, ...] = ()
    api_key_optional: bool = False
    host_env: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rpm: int | None = None
    rpd: int | None = None
    model_rpm: int | None = None
    model_rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None
    model_tpm: int | None = None
    model_tpd: int | None = None
    counts_max_tokens: bool = False
    default_capabilities: frozenset[Capability] = frozenset()
    weight: float = 1.0
    models: tuple[KnownModel, ...] = ()
    local: bool = False
    probe_path: str | None = None
    enabled_by_default: bool = True
    disabled_reason: str | None = None
    notes: str = ""

    @property
    def url_variables(self) -> tuple[str, ...]:
        return tuple(_VARIABLE.findall(self.base_url))

    def key_variable(self, env: Mapping[str, str]) -> str | None:
        """The first of the key variables that is set (non-empty) in `env`."""
        return next((v for v in (self.api_key_env, *self.api_key_fallbacks) if env.get(v)), None)

    def api_key_for(self, env: Mapping[str, str]) -> str | None:
        variable = self.key_variable(env)
        return env[variable] if variable else None

    def base_url_for(self, env: Mapping[str, str]) -> str:
        missing = [v for v in self.url_variables if not env.get(v)]
        if missing:
            raise PresetError(f"preset {self.name}: {', '.join(missing)} is not set")
        url = _VARIABLE.sub(lambda m: env[m.group(1)], self.base_url)
        if self.host_env and env.get(self.host_env):
            url = _with_origin(url, env[self.host_env])
        return url

    def probe_url_for(self, env: Mapping[str, str]) -> str | None:
        """Where a local server answers when it is up; the server root is the base URL without
        its trailing /v1, because health endpoints live beside the OpenAI paths, not under them."""
        if self.probe_path is None:
            return None
        return _server_root(self.base_url_for(env)) + self.probe_path

    def model_fields(self, model: KnownModel) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": model.name,
            "capabilities": sorted(c.value for c in model.capabilities),
            "context_length": model.context_length,
        }
        optional = {
            "weight": self.weight if self.weight != 1.0 else None,
            "rpm": model.rpm if model.rpm is not None else self.model_rpm,
            "rpd": model.rpd if model.rpd is not None else self.model_rpd,
            "tpm": model.tpm if model.tpm is not None else self.model_tpm,
            "tpd": model.tpd if model.tpd is not None else self.model_tpd,
        }
        # TOML has no null: an unset limit is an absent key.
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields

    def provider_fields(self, env: Mapping[str, str]) -> dict[str, Any]:
        """The `[[providers]]` table this preset stands for, under INTERFACE.md's names."""
        fields: dict[str, Any] = {
            "name": self.name,
            "api": self.api.value,
            "base_url": self.base_url_for(env),
            "discover": self.discover,
            "models": [self.model_fields(m) for m in self.models],
        }
        key_env = self.key_variable(env)
        if key_env is None and not self.api_key_optional:
            key_env = self.api_key_env
        optional = {"api_key_env": key_env, "rpm": self.rpm, "rpd": self.rpd, "tpm": self.tpm,
                    "tpd": self.tpd, "counts_max_tokens": self.counts_max_tokens or None}
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields

    def admits(self, model_name: str) -> bool:
        return matches_globs(model_name, self.include, self.exclude)

    def discovered_models(self, discovered: Iterable[DiscoveredModel]) -> list[dict[str, Any]]:
        """Model tables for what discovery found, filtered by the preset's globs. A listing that
        names no capabilities (Groq, Cerebras, Gemini compat) borrows the known model's, else the
        preset's defaults; known models that were not discovered are left out, since a model that
        disappears from the listing must leave the pool."""
        known = {m.name: m for m in self.models}
        tables = []
        for found in discovered:
            if not self.admits(found.name):
                continue
            model = known.get(found.name)
            if found.capabilities:
                capabilities = found.capabilities | self.default_capabilities
            else:
                capabilities = model.capabilities if model else self.default_capabilities
            context = found.context_length or (model.context_length if model else self.default_context_length)
            tables.append(
                self.model_fields(
                    KnownModel(
                        name=found.name,
                        capabilities=capabilities,
                        context_length=context,
                        rpm=model.rpm if model else None,
                        rpd=model.rpd if model else None,
                        tpm=model.tpm if model else None,
                        tpd=model.tpd if model else None,
                    )
                )
            )
        return tables


@dataclass(frozen=True, slots=True)
class PresetStatus:
    """Whether a preset is on in an environment, and the reason, for `freerouter check`."""

    preset: Preset
    enabled: bool
    reason: str


def _with_origin(url: str, host: str) -> str:
    """Put the scheme and host:port of `host` ("host:port" or a URL, as OLLAMA_HOST is written)
    in front of `url`'s path."""
    origin = urlsplit(host if "://" in host else f"http://{host}")
    return f"{origin.scheme}://{origin.netloc}{urlsplit(url).path}"


def _server_root(base_url: str) -> str:
    trimmed = base_url.rstrip("/")
    return trimmed.removesuffix("/v1")


def _capabilities(words: Iterable[str], where: str) -> frozenset[Capability]:
    try:
        return frozenset(Capability(w) for w in words)
    except ValueError as exc:
        raise ValueError(f"catalog {where}: {exc}") from exc


def _known_model(table: Mapping[str, Any], where: str) -> KnownModel:
    return KnownModel(
        name=table["name"],
        capabilities=_capabilities(table.get("capabilities", ()), where),
        context_length=int(table["context_length"]),
        rpm=table.get("rpm"),
        rpd=table.get("rpd"),
        tpm=table.get("tpm"),
        tpd=table.get("tpd"),
    )


def _preset(name: str, table: Mapping[str, Any]) -> Preset:
    if table["discover"] not in DISCOVERY_METHODS:
        raise ValueError(f"catalog {name}.discover: unknown method {table['discover']!r}")
    return Preset(
        name=name,
        api=Api(table["api"]),
        base_url=table["base_url"],
        api_key_env=table["api_key_env"],
        api_key_fallbacks=tuple(table.get("api_key_fallbacks", ())),
        api_key_optional=bool(table.get("api_key_optional", False)),
        host_env=table.get("host_env"),
        discover=table["discover"],
        include=tuple(table.get("include", ())),
        exclude=tuple(table.get("exclude", ())),
        rpm=table.get("rpm"),
        rpd=table.get("rpd"),
        model_rpm=table.get("model_rpm"),
        model_rpd=table.get("model_rpd"),
        tpm=table.get("tpm"),
        tpd=table.get("tpd"),
        model_tpm=table.get("model_tpm"),
        model_tpd=table.get("model_tpd"),
        counts_max_tokens=bool(table.get("counts_max_tokens", False)),
        default_capabilities=_capabilities(
            table.get("default_capabilities", ()), f"{name}.default_capabilities"
        ),
        default_context_length=int(table["default_context_length"]),
        weight=float(table.get("weight", 1.0)),
        models=tuple(_known_model(m, f"{name}.models[{i}]") for i, m in enumerate(table.get("models", ()))),
        local=bool(table.get("local", False)),
        probe_path=table.get("probe_path"),
        enabled_by_default=bool(table.get("enabled_by_default", True)),
        disabled_reason=table.get("disabled_reason"),
        daily_reset_tz=table["daily_reset_tz"],
        daily_scope=table["daily_scope"],
        notes=table.get("notes", ""),
    )


def parse_catalog(text: str) -> Mapping[str, Preset]:
    data = tomllib.loads(text)
    return MappingProxyType({name: _preset(name, table) for name, table in data.items()})


@functools.cache
def load_catalog() -> Mapping[str, Preset]:
    """The shipped catalog, in file order. Cached: the file is package data and never changes
    while the process runs."""
    text = resources.files("providers").joinpath(_CATALOG_FILE).read_text(encoding="utf-8")
    return parse_catalog(text)


def preset_status(
    preset: Preset, env: Mapping[str, str], answering: Collection[str] | None = None
) -> PresetStatus:
    """`answering` names the local presets whose server answered a probe (the caller probes, with
    `discovery.answers` at `probe_url_for`); None means local servers were not probed."""
    if not preset.enabled_by_default:
        return PresetStatus(preset, False, f"disabled: {preset.disabled_reason or 'off by default'}")
    missing_url = [v for v in preset.url_variables if not env.get(v)]
    if preset.local:
        if answering is None:
            return PresetStatus(preset, False, "local: not probed (serve --local probes it)")
        if preset.name in answering:
            return PresetStatus(preset, True, f"local: answering at {preset.base_url_for(env)}")
        return PresetStatus(preset, False, f"local: not answering at {preset.base_url_for(env)}")
    key_env = preset.key_variable(env)
    if key_env is None:
        names = " or ".join((preset.api_key_env, *preset.api_key_fallbacks))
        return PresetStatus(preset, False, f"key variable {names} not set")
    if missing_url:
        return PresetStatus(preset, False, f"variable {', '.join(missing_url)} not set")
    return PresetStatus(preset, True, f"key variable {key_env} set")


def preset_statuses(
    env: Mapping[str, str],
    answering: Collection[str] | None = None,
    catalog: Mapping[str, Preset] | None = None,
) -> list[PresetStatus]:
    presets = load_catalog() if catalog is None else catalog
    return [preset_status(p, env, answering) for p in presets.values()]


def enabled_presets(
    env: Mapping[str, str],
    answering: Collection[str] | None = None,
    catalog: Mapping[str, Preset] | None = None,
) -> list[tuple[Preset, str]]:
    """The presets `serve` turns on with no config, each with why (which key variable is set)."""
    return [(s.preset, s.reason) for s in preset_statuses(env, answering, catalog) if s.enabled]


# A local server answers its health path in milliseconds; one that takes longer is not up.
LOCAL_PROBE_TIMEOUT_S = 2.0


async def probe_local(
    env: Mapping[str, str],
    catalog: Mapping[str, Preset] | None = None,
    timeout_s: float = LOCAL_PROBE_TIMEOUT_S,
) -> frozenset[str]:
    """The local presets (`serve --local`) whose server answers at its probe URL, all probed at
    once. Presets that are off by default are not probed: --local must not turn them on."""
    presets = load_catalog() if catalog is None else catalog
    urls: dict[str, str] = {}
    for preset in presets.values():
        if not (preset.local and preset.enabled_by_default):
            continue
        try:
            url = preset.probe_url_for(env)
        except PresetError:
            continue
        if url is not None:
            urls[preset.name] = url
    transport = Http11Transport(Timeouts(total_s=timeout_s))
    try:
        up = await asyncio.gather(*(answers(transport, url) for url in urls.values()))
    finally:
        await transport.aclose()
    return frozenset(name for name, answered in zip(urls, up, strict=True) if answered)
