"""Model lists: pure parsers from each provider's documented model-list JSON to DiscoveredModel,
and the include/exclude globs a listing is filtered by. Fetching them is providers.discovery's.

The parsers never raise on odd items: an entry they cannot read is skipped, because one strange
model in a listing of hundreds must not empty the pool."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from providers.json_shapes import as_dict, as_list
from router.types import Capability


@dataclass(frozen=True, slots=True)
class DiscoveredModel:
    name: str  # the upstream model id, as requests must send it
    capabilities: frozenset[Capability]  # empty when the listing says nothing about them
    context_length: int | None = None


# ---- small readers over untyped JSON ----------------------------------------------------------


def _int(value: object) -> int | None:
    """A positive integer from an int, a float or a numeric string (Cloudflare sends strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value > 0 else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number > 0 else None
    return None


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _epoch(value: object) -> float | None:
    """An ISO date or date-time (naive means UTC) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _first_int(item: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    return next((n for n in (_int(item.get(k)) for k in keys) if n is not None), None)


# ---- OpenRouter -------------------------------------------------------------------------------

_OPENROUTER_PARAMETERS: Mapping[str, Capability] = MappingProxyType(
    {
        "tools": Capability.TOOLS,
        "response_format": Capability.JSON_OBJECT,
        "structured_outputs": Capability.JSON_SCHEMA,
        "reasoning": Capability.REASONING,
        "include_reasoning": Capability.REASONING,
    }
)
# A multiplier, not a price: a discount on a free model does not make it paid.
_NOT_PRICES = frozenset({"discount"})


def _prices(pricing: object) -> Iterable[float | None]:
    """Every price in a pricing object, nested overrides included; None for an unreadable one."""
    if isinstance(pricing, dict):
        for key, value in pricing.items():
            if key not in _NOT_PRICES:
                yield from _prices(value)
    elif isinstance(pricing, list):
        for value in pricing:
            yield from _prices(value)
    elif isinstance(pricing, bool):
        yield None
    elif isinstance(pricing, int | float):
        yield float(pricing)
    elif isinstance(pricing, str):
        try:
            yield float(pricing)
        except ValueError:
            yield None


def _openrouter_is_free(item: Mapping[str, Any], now: float) -> bool:
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id.endswith(":free"):
        return False
    pricing = as_dict(item.get("pricing"))
    if "prompt" not in pricing or "completion" not in pricing:
        return False
    # Exactly zero everywhere: "-1" marks a dynamic price, and an image model can be free to
    # prompt while charging for its output.
    if any(price != 0.0 for price in _prices(pricing)):
        return False
    architecture = as_dict(item.get("architecture"))
    outputs = architecture.get("output_modalities")
    if not isinstance(outputs, list):
        modality = architecture.get("modality")
        outputs = modality.split("->")[-1].split("+") if isinstance(modality, str) else []
    if "text" not in outputs:
        return False
    expires = _epoch(item.get("expiration_date"))
    return expires is None or expires > now


def parse_openrouter_free(payload: object, now: float) -> list[DiscoveredModel]:
    """OpenRouter GET /models, kept to the strict free rule (see providers.md section 1.1)."""
    found = []
    for item in as_list(as_dict(payload).get("data")):
        if not isinstance(item, dict) or not _openrouter_is_free(item, now):
            continue
        parameters = as_list(item.get("supported_parameters"))
        capabilities = {_OPENROUTER_PARAMETERS[p] for p in parameters if p in _OPENROUTER_PARAMETERS}
        if "image" in as_list(as_dict(item.get("architecture")).get("input_modalities")):
            capabilities.add(Capability.VISION)
        context = _int(item.get("context_length")) or _int(
            as_dict(item.get("top_provider")).get("context_length")
        )
        found.append(DiscoveredModel(item["id"], frozenset(capabilities), context))
    return found


# ---- generic OpenAI /models ---------------------------------------------------------------------

# Where the /models listings of Groq, vLLM, Mistral, Together, HF and LM Studio put the context.
_CONTEXT_KEYS = ("context_window", "max_model_len", "context_length", "max_context_length")
# Model types that cannot chat (Together "embedding", LM Studio "embeddings", ...).
_NOT_CHAT_TYPES = frozenset(
    {"embedding", "embeddings", "image", "audio", "moderation", "rerank", "transcribe", "tts"}
)
# Mistral `capabilities{}` and GitHub-style `capabilities[]` words.
_CAPABILITY_WORDS: Mapping[str, Capability] = MappingProxyType(
    {
        "function_calling": Capability.TOOLS,
        "tool-calling": Capability.TOOLS,
        "tool_use": Capability.TOOLS,
        "tools": Capability.TOOLS,
        "trained_for_tool_use": Capability.TOOLS,
        "vision": Capability.VISION,
        "reasoning": Capability.REASONING,
    }
)


def _capability_words(value: object) -> frozenset[Capability]:
    if isinstance(value, dict):
        words: Iterable[object] = (k for k, v in value.items() if _truthy(v))
    else:
        words = as_list(value)
    return frozenset(_CAPABILITY_WORDS[w] for w in words if isinstance(w, str) and w in _CAPABILITY_WORDS)


def _hf_providers(item: Mapping[str, Any]) -> tuple[frozenset[Capability], int | None]:
    """Hugging Face lists each inference provider of a model; any live one will do."""
    live = [p for p in as_list(item.get("providers")) if isinstance(p, dict) and p.get("status") == "live"]
    capabilities = set()
    if any(_truthy(p.get("supports_tools")) for p in live):
        capabilities.add(Capability.TOOLS)
    if any(_truthy(p.get("supports_structured_output")) for p in live):
        capabilities |= {Capability.JSON_OBJECT, Capability.JSON_SCHEMA}
    contexts = [n for n in (_int(p.get("context_length")) for p in live) if n is not None]
    return frozenset(capabilities), max(contexts, default=None)


def _generic_model(item: Mapping[str, Any]) -> DiscoveredModel | None:
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    raw_capabilities = item.get("capabilities")
    chat_flag = as_dict(raw_capabilities).get("completion_chat")
    if (
        item.get("active") is False
        or item.get("deprecation")
        or item.get("deprecated") is True
        or item.get("type") in _NOT_CHAT_TYPES
        or chat_flag is False
    ):
        return None
    capabilities = set(_capability_words(raw_capabilities))
    inputs = as_list(as_dict(item.get("architecture")).get("input_modalities"))
    if "image" in inputs or item.get("type") == "vlm":
        capabilities.add(Capability.VISION)
    hf_capabilities, hf_context = _hf_providers(item)
    capabilities |= hf_capabilities
    context = _first_int(item, _CONTEXT_KEYS) or hf_context
    # Gemini's compat listing says "models/gemini-2.5-flash"; requests must say "gemini-2.5-flash".
    return DiscoveredModel(model_id.removeprefix("models/"), frozenset(capabilities), context)


def parse_openai_models(payload: object) -> list[DiscoveredModel]:
    """A GET /models listing: `{"data": [...]}`, or Together's bare array. Inactive, deprecated
    and non-chat entries are dropped, and Mistral's alias entries collapse into the first one."""
    items = payload if isinstance(payload, list) else as_list(as_dict(payload).get("data"))
    found: list[DiscoveredModel] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        model = _generic_model(item)
        if model is None or model.name in seen:
            continue
        seen.add(model.name)
        seen.update(a for a in as_list(item.get("aliases")) if isinstance(a, str))
        found.append(model)
    return found


def matches_globs(name: str, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> bool:
    """Whether `name` matches any include glob (every name does when there is none) and no
    exclude glob. Case-sensitive: model ids are."""
    include = tuple(include)
    included = not include or any(fnmatch.fnmatchcase(name, g) for g in include)
    return included and not any(fnmatch.fnmatchcase(name, g) for g in exclude)


def filter_globs(
    models: Iterable[DiscoveredModel], include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> list[DiscoveredModel]:
    include, exclude = tuple(include), tuple(exclude)
    return [m for m in models if matches_globs(m.name, include, exclude)]


# ---- llama.cpp ----------------------------------------------------------------------------------


def parse_llamacpp(models_payload: object, props_payload: object) -> list[DiscoveredModel]:
    """llama-server's /v1/models plus /props: the context it was started with (n_ctx, not the
    training context) and what its chat template and projector allow."""
    props = as_dict(props_payload)
    settings = as_dict(props.get("default_generation_settings"))
    context = _int(settings.get("n_ctx")) or _int(props.get("n_ctx"))
    capabilities = set()
    if _truthy(as_dict(props.get("modalities")).get("vision")):
        capabilities.add(Capability.VISION)
    if _truthy(as_dict(props.get("chat_template_caps")).get("supports_tools")):
        capabilities.add(Capability.TOOLS)
    return [
        DiscoveredModel(m.name, m.capabilities | capabilities, context or m.context_length)
        for m in parse_openai_models(models_payload)
    ]


# ---- Ollama -------------------------------------------------------------------------------------

_OLLAMA_CAPABILITIES: Mapping[str, Capability] = MappingProxyType(
    {"tools": Capability.TOOLS, "vision": Capability.VISION, "thinking": Capability.REASONING}
)


def parse_ollama_tags(payload: object) -> list[str]:
    """GET /api/tags: the installed model names."""
    models = as_list(as_dict(payload).get("models"))
    names = (m.get("name") or m.get("model") for m in models if isinstance(m, dict))
    return [n for n in names if isinstance(n, str) and n]


def parse_ollama_show(name: str, payload: object) -> DiscoveredModel | None:
    """POST /api/show: None for a model that cannot chat (an embedding model)."""
    show = as_dict(payload)
    words = as_list(show.get("capabilities"))
    if "completion" not in words:
        return None
    capabilities = {_OLLAMA_CAPABILITIES[w] for w in words if w in _OLLAMA_CAPABILITIES}
    # Ollama's OpenAI endpoint honours response_format for every chat model.
    capabilities |= {Capability.JSON_OBJECT, Capability.JSON_SCHEMA}
    info = as_dict(show.get("model_info"))
    context = next((n for k, v in info.items() if k.endswith(".context_length") and (n := _int(v))), None)
    return DiscoveredModel(name, frozenset(capabilities), context)


# ---- Cloudflare Workers AI ----------------------------------------------------------------------


def parse_cloudflare_models(payload: object) -> list[DiscoveredModel]:
    """GET /accounts/{id}/ai/models/search: text-generation models the free plan may run."""
    found = []
    for item in as_list(as_dict(payload).get("result")):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if as_dict(item.get("task")).get("name") != "Text Generation":
            continue
        properties = {
            p.get("property_id"): p.get("value")
            for p in as_list(item.get("properties"))
            if isinstance(p, dict)
        }
        if _truthy(properties.get("require_workers_paid")):
            continue
        capabilities = set()
        if _truthy(properties.get("function_calling")):
            capabilities.add(Capability.TOOLS)
        if _truthy(properties.get("reasoning")):
            capabilities.add(Capability.REASONING)
        found.append(
            DiscoveredModel(item["name"], frozenset(capabilities), _int(properties.get("context_window")))
        )
    return found


# ---- LM Studio ----------------------------------------------------------------------------------


def parse_lmstudio_models(payload: object) -> list[DiscoveredModel]:
    """GET /api/v0/models (`data[]`) or the v0.4 /api/v1/models (`models[]` keyed by `key`):
    llm and vlm models, the loaded ones first since others need a slow just-in-time load."""
    body = as_dict(payload)
    entries = [e for e in as_list(body.get("data")) + as_list(body.get("models")) if isinstance(e, dict)]
    chat = [
        e for e in entries if e.get("type") in {"llm", "vlm"} and isinstance(e.get("id") or e.get("key"), str)
    ]

    def loaded(entry: Mapping[str, Any]) -> bool:
        return entry.get("state") == "loaded" or bool(as_list(entry.get("loaded_instances")))

    found = []
    for entry in sorted(chat, key=lambda e: not loaded(e)):
        capabilities = set(_capability_words(entry.get("capabilities")))
        if entry.get("type") == "vlm":
            capabilities.add(Capability.VISION)
        name = entry.get("id") or entry["key"]
        found.append(DiscoveredModel(name, frozenset(capabilities), _int(entry.get("max_context_length"))))
    return found


__all__ = [
    "DiscoveredModel",
    "filter_globs",
    "matches_globs",
    "parse_cloudflare_models",
    "parse_llamacpp",
    "parse_lmstudio_models",
    "parse_ollama_show",
    "parse_ollama_tags",
    "parse_openai_models",
    "parse_openrouter_free",
]
