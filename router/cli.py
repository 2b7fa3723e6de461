"""The `freerouter` command: serve, demo, check, status."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import Any

from router import heap, logs
from router.config import Config, ConfigError, Presets, load, parse
from router.plugins import PluginError, Plugins, load_plugins

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    sys.exit(args.run(args))


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="freerouter", description=(
        "Route OpenAI- and Anthropic-API requests for `free` across free LLM backends."))
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, port: bool = True) -> None:
        p.add_argument("--console", action="store_true", help="human-readable logs, not JSON")
        p.add_argument("--log-level", default=env.get("FREEROUTER_LOG_LEVEL", "info"))
        if port:
            p.add_argument("--host", default=env.get("FREEROUTER_HOST", DEFAULT_HOST))
            p.add_argument("--port", type=int, default=int(env.get("FREEROUTER_PORT", DEFAULT_PORT)))

    serve = sub.add_parser("serve", help="run the router")
    serve.add_argument("--config", help="TOML config (default: $FREEROUTER_CONFIG, else the "
                                        "built-in catalog of providers whose key is set)")
    serve.add_argument("--local", action="store_true", help=(
        "also enable the local servers (Ollama, llama.cpp, vLLM, LM Studio) that answer on their "
        "default ports; applies to the built-in catalog, not to a --config file"))
    common(serve)
    serve.set_defaults(run=_serve)

    demo = sub.add_parser("demo", help="run the router over built-in simulated backends")
    common(demo)
    demo.add_argument("--json", dest="console", action="store_false",
                      help="JSON logs (the demo logs for humans by default)")
    demo.set_defaults(run=_demo, console=True)

    check = sub.add_parser("check", help="validate a config and print the resolved pool")
    check.add_argument("--config")
    check.add_argument("--local", action="store_true",
                       help="probe local servers, as `serve --local` does")
    check.set_defaults(run=_check)

    status = sub.add_parser("status", help="show a running router's backends")
    status.add_argument("--url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    status.add_argument("--key", default=env.get("FREEROUTER_KEY"))
    status.set_defaults(run=_status)
    return parser


def _config_path(args: argparse.Namespace) -> str | None:
    return args.config or os.environ.get("FREEROUTER_CONFIG") or None


def _presets(env: Mapping[str, str]) -> Presets:
    from providers.catalog import load_catalog

    return {name: partial(p.provider_fields, env) for name, p in load_catalog().items()}


def resolve_config(
    path: str | None, env: Mapping[str, str], plugins: Plugins,
    answering: Collection[str] | None = None,
) -> Config:
    """The config from a file, else the catalog presets whose key variables are set, plus the
    local ones named in `answering` (the local servers that answered `--local`'s probe)."""
    strategies = list(plugins.strategies)
    presets = _presets(env)
    if path is not None:
        return load(path, env, strategies, presets)
    from providers.catalog import enabled_presets

    enabled = [p.name for p, _why in enabled_presets(env, answering)]
    if not enabled:
        raise ConfigError([
            "no usable provider: pass --config FILE, set FREEROUTER_CONFIG, or set a provider key "
            "variable such as OPENROUTER_API_KEY, GEMINI_API_KEY or GROQ_API_KEY "
            "(`freerouter check` lists them all), or run a local server and pass --local; "
            "`freerouter demo` runs without any key",
        ])
    raw = {"providers": [{"preset": name} for name in enabled]}
    return parse(raw, env, strategies, presets, source="<catalog>")


def _serve(args: argparse.Namespace) -> int:
    logs.configure(console=args.console, level=args.log_level)
    path = _config_path(args)
    answering = _probe_local(args, path)
    try:
        plugins = load_plugins()
        config = resolve_config(path, os.environ, plugins, answering)
    except (ConfigError, PluginError) as exc:
        print(f"freerouter: cannot start:\n{_indent(exc)}", file=sys.stderr)
        return 2
    from router.app import create_app
    from router.server import serve

    # Now that the keys are known, no log line may show them, whatever the field.
    logs.configure(console=args.console, level=args.log_level,
                   secrets=[*config.keys.values(), *config.client_keys, *config.state_secrets])

    def reload() -> Config:
        # The local servers found at startup: a reload runs on the event loop and cannot probe.
        return resolve_config(path, dict(os.environ), plugins, answering)

    app = create_app(config, plugins, reload_config=reload)
    return _run(serve(app, args.host, args.port, shutdown_delay_s=config.server.shutdown_delay_s,
                      drain_timeout_s=config.server.drain_timeout_s, on_started=_settle_heap))


async def _settle_heap(_port: int) -> None:
    heap.settle()


def _demo(args: argparse.Namespace) -> int:
    logs.configure(console=args.console, level=args.log_level)
    return _run(_run_demo(args.host, args.port))


async def _run_demo(host: str, port: int) -> None:
    from router.app import create_app
    from router.demo.backends import demo_raw_config, demo_upstreams
    from router.server import serve

    plugins = load_plugins()
    async with demo_upstreams() as upstreams:
        config = parse(demo_raw_config(upstreams.ports), os.environ, list(plugins.strategies), {},
                       source="<demo>")

        async def banner(bound: int) -> None:
            await _settle_heap(bound)
            print(_demo_banner(host, bound, config), flush=True)

        app = create_app(config, plugins)
        await serve(app, host, port, shutdown_delay_s=0.0, drain_timeout_s=10.0,
                    on_started=banner)


def _demo_banner(host: str, port: int, config: Config) -> str:
    url = f"http://{host}:{port}"
    width = max(len(b.id) for b in config.backends()) + 2
    backends = "\n".join(f"    {b.id:<{width}}{', '.join(sorted(c.value for c in b.capabilities))}"
                         for b in config.backends())
    return (
        f"freerouter demo on {url}  (Ctrl-C to stop)\n  simulated backends:\n{backends}\n"
        f"  try:\n    curl -s {url}/v1/chat/completions -H 'content-type: application/json' "
        "-d '{\"model\":\"free\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n"
        f"    python -c \"from openai import OpenAI; c=OpenAI(base_url='{url}/v1', api_key='x'); "
        "r=c.chat.completions.create(model='free', messages=[{'role':'user','content':'hi'}]); "
        "print(r.model, r.choices[0].message.content)\"\n"
        f"    curl -s {url}/status\n"
        f"  console: {url}/ui/"
    )


def _check(args: argparse.Namespace) -> int:
    path = _config_path(args)
    answering = _probe_local(args, path)
    try:
        plugins = load_plugins()
        config = resolve_config(path, os.environ, plugins, answering)
    except (ConfigError, PluginError) as exc:
        print(f"config invalid:\n{_indent(exc)}", file=sys.stderr)
        _print_catalog(os.environ, answering)
        return 1
    from router.report import pool_table

    print(pool_table(config))
    _print_catalog(os.environ, answering)
    return 0


def _probe_local(args: argparse.Namespace, path: str | None) -> frozenset[str] | None:
    """The local presets that answer, when --local asks for them; None when not probed."""
    if not args.local:
        return None
    if path is not None:
        print("freerouter: --local applies to the built-in catalog; with a config file, add "
              "`[[providers]] preset = \"ollama\"` (or llamacpp, vllm, lmstudio) to it",
              file=sys.stderr)
    from providers.catalog import probe_local

    return asyncio.run(probe_local(os.environ))


def _print_catalog(env: Mapping[str, str], answering: Collection[str] | None = None) -> None:
    from providers.catalog import preset_statuses

    print("\nbuilt-in catalog presets:")
    for s in preset_statuses(env, answering):
        print(f"  {'on ' if s.enabled else 'off'}  {s.preset.name:<12} {s.reason}")


def _status(args: argparse.Namespace) -> int:
    from router.report import fetch_status

    try:
        print(asyncio.run(fetch_status(args.url, args.key)))
    except Exception as exc:  # any failure to reach or read the router
        print(f"freerouter status: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(coro: Any) -> int:
    """Run the server to its end: 0, or 2 with one line on stderr when it cannot listen."""
    from router.server import ListenError

    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(coro)
        else:
            uvloop.run(coro)
    except ListenError as exc:
        print(f"freerouter: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def _indent(exc: Exception) -> str:
    errors = exc.errors if isinstance(exc, ConfigError) else [str(exc)]
    return "\n".join(f"  - {e}" for e in errors)


if __name__ == "__main__":
    main()
