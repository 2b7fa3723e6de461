"""The domain types every layer shares: APIs, capabilities, backends, request needs, and the
Strategy protocol. This module imports nothing from the project, so anything may import it."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from router.records import record

JSON = dict[str, Any]


class Api(enum.Enum):
    """A wire format: what a client speaks, or what an upstream speaks (router.wire has one
    object per API). The value is the `api` metric label and the config's provider `api`."""

    OPENAI = "openai"  # Chat Completions
    ANTHROPIC = "anthropic"  # Messages
    RESPONSES = "responses"  # OpenAI Responses: a client API only


class Capability(enum.Enum):
    """An optional feature a backend may have; the value is the config word."""

    TOOLS = "tools"
    VISION = "vision"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"
    REASONING = "reasoning"


class FailureReason(enum.Enum):
    """Why an upstream attempt failed; the value is the `reason` metric label."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    BAD_RESPONSE = "bad_response"
    STREAM_ERROR = "stream_error"
    BUDGET = "budget"


# The words of a provider's `discover` key: how its model list is found at run time. The config
# checks them; providers.discovery implements each one (a test holds the two together).
DISCOVERY_METHODS = frozenset(
    {"none", "models", "openrouter-free", "ollama", "cloudflare", "lmstudio", "llamacpp"}
)


@dataclass(frozen=True, slots=True)
class Backend:
    """One upstream model at one provider: pure identity, no mutable state."""

    id: str  # "{provider}/{model}"
    provider: str
    model: str  # the upstream's own model id
    api: Api
    capabilities: frozenset[Capability]
    context_length: int
    weight: float = 1.0
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None  # the model's own token budgets (its provider's are apart)
    tpd: int | None = None
    counts_max_tokens: bool = False  # its provider counts the declared max_tokens as spent


@record
class Needs:
    """What a request requires of a backend, found by request analysis."""

    capabilities: frozenset[Capability]
    prompt_tokens: int  # an estimate
    session_key: str | None = None
    stream: bool = False
    max_output: int | None = None  # the client's output ceiling (max_tokens and kin), if any


@dataclass(frozen=True, slots=True)
class Candidate:
    """A backend a strategy may pick, with the health score it has right now (0..1)."""

    backend: Backend
    score: float = 1.0


class Strategy(Protocol):
    """A load-balancing policy. It only picks among the candidates it is given (never empty)
    and never judges health; it must not do I/O. Randomness comes from the injected RNG."""

    def pick(self, candidates: Sequence[Candidate], needs: Needs) -> Candidate: ...


class StrategyFactory(Protocol):
    """What the `freerouter.strategies` entry points name: usually the strategy class."""

    def __call__(self, rng: random.Random) -> Strategy: ...


@record
class Outcome:
    """What one upstream attempt (or probe) produced; the health tracker consumes these."""

    backend_id: str
    ok: bool
    latency_s: float | None = None  # time to first byte
    reason: FailureReason | None = None
    retry_after_s: float | None = None  # cooldown hint from the upstream
    provider_wide: bool = False  # the limit applies to the whole provider account
    until_epoch: float | None = None  # a daily quota: parked until this wall-clock time
    probe: bool = False
