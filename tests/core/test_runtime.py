"""A Runtime is built whole from one config: its provider budgets among what it holds."""

from __future__ import annotations

import random
from typing import Any

from router.budget import Limits
from router.config import Config, parse
from router.plugins import load_plugins
from router.runtime import build_runtime, with_config


def _config(**account: Any) -> Config:
    return parse({"providers": [{"name": "groq", "api": "openai", "base_url": "http://x/v1",
                                 **account, "models": [{"name": "m"}]}]}, {}, ["random"], {})


def test_the_provider_budgets_are_the_configs() -> None:
    plugins = load_plugins()
    runtime = build_runtime(_config(rpm=30, tpd=5000), plugins, random.Random(0), lambda: 0.0)

    assert runtime.provider_limits == {"groq": Limits(rpm=30, tpd=5000)}


def test_a_runtime_over_a_new_config_holds_that_configs_budgets() -> None:
    plugins = load_plugins()
    runtime = build_runtime(_config(rpm=30), plugins, random.Random(0), lambda: 0.0)

    moved = with_config(runtime, _config(rpm=10), plugins.strategies, random.Random(0))

    assert moved.provider_limits == {"groq": Limits(rpm=10)}
    assert moved.providers is runtime.providers
