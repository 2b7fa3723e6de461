"""The pool's plans: the model and its fallbacks resolved in order, and the plan of a bare model
name kept, so an API that resolves the route before the proxy does pays once."""

from __future__ import annotations

import random

import pytest

from router import pool as pool_module
from router.config import parse
from router.errors import ModelNotFound, RequestError
from router.plugins import load_plugins
from router.pool import Pool


def make_pool() -> Pool:
    plugins = load_plugins()
    config = parse({"providers": [
        {"name": "a", "api": "openai", "base_url": "http://a/v1",
         "models": [{"name": "m1", "context_length": 8192}, {"name": "m2", "context_length": 8192}]},
    ]}, {}, list(plugins.strategies), {})
    return Pool(config, plugins.strategies, random.Random(1))


def test_a_plan_is_the_model_then_its_fallbacks_without_repeats() -> None:
    pool = make_pool()
    plan = pool.plan("a/m2", ["free", "a/m2", "a/m1"])
    assert [t.label for t in plan] == ["a/m2", "free", "a/m1"]


def test_the_plan_of_a_bare_model_name_is_kept_and_reused() -> None:
    pool = make_pool()
    first = pool.plan("free", None)
    assert pool.plan("free", None) is first
    assert pool.plan("free", ["a/m1"]) is not first  # with fallbacks: worked out every time
    assert [t.label for t in pool.plan("free", ["a/m1"])] == ["free", "a/m1"]


def test_a_name_that_resolves_to_nothing_is_refused_every_time() -> None:
    pool = make_pool()
    for _ in range(2):
        with pytest.raises(ModelNotFound):
            pool.plan("nope", None)
    with pytest.raises(RequestError, match="must be a string"):
        pool.plan(7, None)


def test_the_kept_plans_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "PLANS_KEPT", 2)
    pool = make_pool()
    free = pool.plan("free", None)
    pool.plan("a/m1", None)
    pool.plan("a/m2", None)  # the third empties what was kept
    assert pool.plan("free", None) is not free
    assert pool.plan("free", None) == free
