"""The backend pool: an immutable snapshot of backends, routes and aliases, built once per config
(and rebuilt whole on reload). It resolves a requested model to an ordered plan of targets and
filters a target's backends by what a request needs. Health is not its business."""

from __future__ import annotations

import fnmatch
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cachetools import LRUCache

from router.config import Config
from router.errors import ModelNotFound, NoCapableBackend, RequestError
from router.types import Backend, Capability, Needs, Strategy, StrategyFactory

CONTEXT_WORD = "context_length"
TPM_WORD = "tpm"
UNLIMITED_TPM = 1 << 62  # a backend without a tokens-per-minute budget
MAX_FALLBACKS = 64  # entries of an OpenRouter-style `models` list


@dataclass(frozen=True, slots=True)
class Target:
    """One thing a request may be served by: a route (strategy over several backends) or a
    single backend asked for directly."""

    label: str  # the route name, or the backend id: the `route` metric label
    strategy_name: str
    strategy: Strategy
    backends: tuple[Backend, ...]
    max_attempts: int


@dataclass(frozen=True, slots=True)
class _Capable:
    backends: tuple[Backend, ...]
    min_context: int  # smallest context_length among them: most requests fit them all
    min_tpm: int  # smallest tpm among them (UNLIMITED_TPM when none has one): likewise


PLANS_KEPT = 4096


class Pool:
    def __init__(
        self, config: Config, strategies: Mapping[str, StrategyFactory], rng: random.Random
    ) -> None:
        self.config = config
        self.backends: dict[str, Backend] = {b.id: b for b in config.backends()}
        self.routes: dict[str, Target] = {}
        for route in config.routes:
            members = tuple(
                b for b in self.backends.values()
                if any(fnmatch.fnmatchcase(b.id, g) for g in route.backends)
            )
            self.routes[route.name] = Target(
                route.name, route.strategy, strategies[route.strategy](rng), members,
                route.max_attempts,
            )
        self._single = strategies["random"](rng)
        self._by_model: dict[str, list[Backend]] = defaultdict(list)
        for b in self.backends.values():
            self._by_model[b.model].append(b)
        self._min_output = config.routing.min_output_tokens
        # backend id -> its tightest configured tpm, the model's or its provider account's: a
        # request whose estimate is larger can never be sent there.
        accounts = {p.name: p.tpm for p in config.providers}
        self._tpm: dict[str, int] = {
            b.id: min(t for t in (b.tpm, accounts.get(b.provider)) if t is not None)
            for b in self.backends.values()
            if b.tpm is not None or accounts.get(b.provider) is not None}
        # (target label, needed capabilities) -> capable backends; a handful of distinct keys.
        self._capable: LRUCache[tuple[str, frozenset[Capability]], _Capable] = LRUCache(4096)
        # model name -> its plan when no `models` list comes with it: nearly every request, and
        # an API that resolves the route before the proxy does asks twice. A plain dict emptied
        # when full (alias globs let clients name endless models): cheaper to read than an LRU.
        self._plans: dict[str, tuple[Target, ...]] = {}

    # -- resolution -------------------------------------------------------------------------

    def resolve(self, model: str) -> Target | None:
        """Model resolution, in INTERFACE.md's order."""
        if model in self.routes:
            return self.routes[model]
        for glob, target in self.config.aliases:
            if fnmatch.fnmatchcase(model, glob):
                if target in self.routes:
                    return self.routes[target]
                # A discovered backend may be absent from this pool (not listed right now).
                return self._direct(self.backends[target]) if target in self.backends else None
        if model in self.backends:
            return self._direct(self.backends[model])
        if model.endswith(":free"):
            named = self._by_model.get(model, []) + self._by_model.get(model[: -len(":free")], [])
        else:
            named = self._by_model.get(model, [])
        return self._direct(named[0]) if len(named) == 1 else None

    def plan(self, model: object, fallbacks: object) -> tuple[Target, ...]:
        """`model` first, then an OpenRouter-style `models` list, in order, without repeats."""
        single = model if fallbacks is None and isinstance(model, str) else None
        if single is not None and (known := self._plans.get(single)) is not None:
            return known
        if fallbacks is not None and (not isinstance(fallbacks, list) or len(fallbacks) > MAX_FALLBACKS):
            raise RequestError(f"`models` must be an array of at most {MAX_FALLBACKS} model names",
                               param="models")
        given: list[object] = ([model] if model is not None else []) + (fallbacks or [])
        if not given:
            raise RequestError("`model` is required", param="model")
        names = [name for name in given if isinstance(name, str)]
        if len(names) != len(given):
            raise RequestError("`model` and every entry of `models` must be a string", param="model")
        plan: list[Target] = []
        for name in dict.fromkeys(names):
            target = self.resolve(name)
            if target is None:
                raise ModelNotFound(
                    f"model {name!r} does not exist. Available: {', '.join(self.model_names())}",
                    param="model", code="model_not_found",
                )
            if all(t.label != target.label for t in plan):
                plan.append(target)
        kept = tuple(plan)
        if single is not None:
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            self._plans[single] = kept
        return kept

    def model_names(self) -> list[str]:
        return [*self.routes, *self.backends]

    def _direct(self, backend: Backend) -> Target:
        return Target(backend.id, "random", self._single, (backend,), 1)

    # -- capability filter ------------------------------------------------------------------

    def capable(self, target: Target, needs: Needs) -> tuple[Backend, ...]:
        key = (target.label, needs.capabilities)
        entry = self._capable.get(key)
        if entry is None:
            fit = tuple(b for b in target.backends if needs.capabilities <= b.capabilities)
            entry = _Capable(fit, min((b.context_length for b in fit), default=0),
                             min((self.tpm(b) for b in fit), default=UNLIMITED_TPM))
            self._capable[key] = entry
        need = needs.prompt_tokens + self._min_output
        if need <= entry.min_context and need <= entry.min_tpm:
            return entry.backends
        return tuple(b for b in entry.backends if b.context_length >= need and self.tpm(b) >= need)

    def tpm(self, backend: Backend) -> int:
        """The tightest configured tokens per minute of `backend` (UNLIMITED_TPM: none)."""
        return self._tpm.get(backend.id, UNLIMITED_TPM)

    def require_capable(self, plan: Sequence[Target], needs: Needs) -> list[tuple[Backend, ...]]:
        """The capable backends of every target; NoCapableBackend when no target has any."""
        capable = [self.capable(t, needs) for t in plan]
        if any(capable):
            return capable
        everyone = [b for t in plan for b in t.backends]
        missing = [c.value for c in sorted(needs.capabilities, key=lambda c: c.value)
                   if not any(c in b.capabilities for b in everyone)]
        need = needs.prompt_tokens + self._min_output
        with_caps = [b for b in everyone if needs.capabilities <= b.capabilities]
        if with_caps and not any(b.context_length >= need for b in with_caps):
            missing.append(CONTEXT_WORD)
        if with_caps and not any(self.tpm(b) >= need for b in with_caps):
            missing.append(TPM_WORD)
        if with_caps and not missing:  # some fit the context, others the tpm: none both
            missing = [CONTEXT_WORD, TPM_WORD]
        if not missing:  # each capability exists somewhere, but no backend has them all
            missing = [c.value for c in sorted(needs.capabilities, key=lambda c: c.value)]
            detail = f"no backend of {plan[0].label!r} has all of: {', '.join(missing)}"
        else:
            detail = f"no backend of {plan[0].label!r} supports: {', '.join(missing)}"
        if CONTEXT_WORD in missing or TPM_WORD in missing:
            detail += f" (the prompt is about {needs.prompt_tokens} tokens, plus " \
                      f"{self._min_output} for the answer)"
        raise NoCapableBackend(detail, param="model", code="no_capable_backend")
