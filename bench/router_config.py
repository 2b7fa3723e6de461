"""The configuration files the bench writes for the routers under test."""

from __future__ import annotations

from dataclasses import dataclass

from bench.loadgen import ApiName

UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"
HOLD_ROUTE = "hold"


@dataclass(frozen=True)
class RouterSetup:
    """What the router is pointed at for one scenario."""

    backend_api: ApiName = "openai"
    backends: int = 1
    # Adds a provider on the upstream's paced /slow paths behind route HOLD_ROUTE.
    slow_route: bool = False
    # Budgets that never run out (model and provider, rpm and rpd: four windows per request),
    # kept in memory or in the Redis at this URL; None: no budgets at all.
    budget_store: str | None = None
    redis_url_env: str = "FREEROUTER_REDIS_URL"


NEVER_OUT = 1_000_000_000  # a budget the bench never spends

def _provider(name: str, api: ApiName, base_url: str, models: int, budgets: bool = False) -> str:
    head = (
        f'[[providers]]\nname = "{name}"\napi = "{api}"\nbase_url = "{base_url}"\n'
        f'api_key_env = "{UPSTREAM_KEY_ENV}"\n'
    )
    limits = f"rpm = {NEVER_OUT}\nrpd = {NEVER_OUT}\n" if budgets else ""
    model = ('[[providers.models]]\nname = "m{index}"\ncontext_length = 131072\n'
             'capabilities = ["tools"]\n' + limits)
    return head + limits + "".join(model.format(index=i) for i in range(models))


def _route(name: str, patterns: str) -> str:
    return f'[[routes]]\nname = "{name}"\nstrategy = "random"\nbackends = [{patterns}]\n'


def freerouter_toml(upstream_port: int, setup: RouterSetup) -> str:
    upstream = f"http://127.0.0.1:{upstream_port}"
    parts = [
        # The bench kills the router right after measuring; no drain delay needed.
        "[server]\nshutdown_delay_s = 0\ndrain_timeout_s = 1\n",
        # Probes would add upstream traffic in the middle of a measured window.
        "[health]\nprobe_interval_s = 3600\n",
        _provider("bench", setup.backend_api, f"{upstream}/v1", setup.backends,
                  budgets=setup.budget_store is not None),
    ]
    if setup.budget_store == "redis":
        parts.append(f'[state]\nbackend = "redis"\nurl_env = "{setup.redis_url_env}"\n'
                     'key_prefix = "bench:"\n')
    if setup.slow_route:
        parts += [
            _provider("slow", "openai", f"{upstream}/slow/v1", 1),
            _route("free", '"bench/*"'),
            _route(HOLD_ROUTE, '"slow/*"'),
        ]
    else:
        parts.append(_route("free", '"*"'))
    return "\n".join(parts)


def litellm_yaml(upstream_port: int) -> str:
    """LiteLLM proxy config: one OpenAI deployment named ``free`` on the fake upstream."""
    return (
        "model_list:\n"
        "  - model_name: free\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-bench-upstream\n"
        "litellm_settings:\n"
        "  callbacks: []\n"
        "  num_retries: 0\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )
