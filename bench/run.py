"""Run every scenario several times on fresh processes and print one table of medians.

    python -m bench.run [--quick] [--runs N] [--only GLOB ...] [--litellm PATH]

The process under test (freerouter, the floor proxy, LiteLLM, or the upstream
itself for the "direct" rows) runs alone on one CPU; the load generator (this
process) and the fake upstream share the other. Runs are interleaved (run 1 of
every scenario, then run 2, ...) so slow drift on a shared machine spreads over
all scenarios instead of biasing one. Rows ending in ", wrk" are driven by wrk
(when installed) instead of the aiohttp client, whose own CPU cost otherwise
caps the direct and floor rows; the throughput and c=1 latency targets use them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench import eventloop, loadgen, processes, redis_server, report, wrk
from bench.loadgen import HoldResult, LoadResult, Workload
from bench.processes import Spawned
from bench.router_config import (
    HOLD_ROUTE,
    UPSTREAM_KEY_ENV,
    RouterSetup,
    freerouter_toml,
    litellm_yaml,
)
from bench.scenarios import (
    RunResult,
    Scenario,
    TargetKind,
    against_settled_floor,
    all_scenarios,
    summarise,
    verdicts,
)

_HOLD_WARMUP_CONCURRENCY = 16
_DIRECT_MODEL = "m0"


@dataclass(frozen=True)
class Options:
    runs: int
    warmup_s: float
    duration_s: float
    hold_streams: int
    hold_timeout_s: float
    slow_interval_s: float
    only: tuple[str, ...]
    subject_cpu: int | None
    load_cpu: int | None
    litellm: str | None
    workdir: Path
    nice: int
    json_out: Path | None
    redis_url: str | None = None  # a local redis-server for the "redis" state rows


@dataclass(frozen=True)
class Stage:
    """The running processes of one scenario run and how to address the subject."""

    subject: Spawned
    base_url: str
    model: str
    headers: tuple[tuple[str, str], ...] = ()
    hold_base_url: str = ""
    hold_model: str = ""


def _spawn_upstream(options: Options, cpu: int | None) -> Spawned:
    return processes.spawn_bench_server(
        "upstream", "bench.upstream", ["--slow-interval", str(options.slow_interval_s)], cpu
    )


def _direct(options: Options, scenario: Scenario, upstream: Spawned) -> Stage:
    url = upstream.base_url()
    return Stage(upstream, url, _DIRECT_MODEL, (), url + "/slow", _DIRECT_MODEL)


def _floor(options: Options, scenario: Scenario, upstream: Spawned) -> Stage:
    settled = ["--settle-heap"] if scenario.target == "floor-settled" else []
    proxy = processes.spawn_bench_server(
        "floor proxy", "bench.floor_proxy", ["--upstream", upstream.base_url(), *settled],
        options.subject_cpu,
    )
    url = proxy.base_url()
    return Stage(proxy, url, _DIRECT_MODEL, (), url + "/slow", _DIRECT_MODEL)


def _server_env(extra: dict[str, str], drop: Sequence[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return env | extra


def _freerouter(options: Options, scenario: Scenario, upstream: Spawned) -> Stage:
    setup = RouterSetup(scenario.backend_api, scenario.backends, slow_route=scenario.hold > 0,
                        budget_store=None if scenario.state == "none" else scenario.state)
    config = options.workdir / f"freerouter-{scenario.key}.toml"
    config.write_text(freerouter_toml(upstream.port, setup))
    port = processes.free_port()
    argv = [sys.executable, "-m", "router", "serve", "--config", str(config)]
    env = _server_env(
        {"FREEROUTER_LOG_LEVEL": "warning", UPSTREAM_KEY_ENV: "sk-bench-upstream",
         setup.redis_url_env: options.redis_url or ""},
        drop=("FREEROUTER_CLIENT_KEYS", "FREEROUTER_CONFIG", "FREEROUTER_HOST", "FREEROUTER_PORT"),
    )
    router = processes.spawn_http_server(
        "freerouter",
        [*argv, "--host", "127.0.0.1", "--port", str(port)],
        port,
        "/readyz",
        options.subject_cpu,
        env,
        options.workdir / f"freerouter-{scenario.key}.log",
        timeout_s=60.0,
    )
    url = router.base_url()
    return Stage(router, url, "free", (), url, HOLD_ROUTE)


def _litellm(options: Options, scenario: Scenario, upstream: Spawned) -> Stage:
    assert options.litellm is not None
    config = options.workdir / "litellm.yaml"
    config.write_text(litellm_yaml(upstream.port))
    key = "sk-bench-" + secrets.token_hex(16)
    port = processes.free_port()
    env = _server_env({"LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}, drop=())
    argv = [options.litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    proxy = processes.spawn_http_server(
        "litellm",
        [*argv, "--num_workers", "1"],
        port,
        "/health/liveliness",
        options.subject_cpu,
        env,
        options.workdir / "litellm.log",
        timeout_s=120.0,
    )
    url = proxy.base_url()
    return Stage(proxy, url, "free", (("Authorization", f"Bearer {key}"),), url, "free")


_STAGES: dict[TargetKind, Callable[[Options, Scenario, Spawned], Stage]] = {
    "direct": _direct,
    "floor": _floor,
    "floor-settled": _floor,
    "freerouter": _freerouter,
    "litellm": _litellm,
}


@dataclass
class _WindowProbe:
    """The subject's memory and CPU time when the measured window opens and closes."""

    subject: Spawned
    rss_start_kb: int | None = None
    cpu_start_s: float | None = None
    cpu_end_s: float | None = None

    def start(self) -> None:
        self.rss_start_kb = self.subject.rss_kb()
        self.cpu_start_s = self.subject.cpu_s()

    def end(self) -> None:
        self.cpu_end_s = self.subject.cpu_s()

    def cpu_us_per_request(self, requests: int) -> float | None:
        # CPU per request is far less sensitive to other jobs on the machine than
        # requests/s: a neighbour steals time, not work.
        if self.cpu_start_s is None or self.cpu_end_s is None or not requests:
            return None
        return (self.cpu_end_s - self.cpu_start_s) * 1e6 / requests


def _load(options: Options, scenario: Scenario, work: Workload, probe: _WindowProbe) -> LoadResult:
    warmup = max(options.warmup_s, scenario.min_warmup_s)
    timing = (options.duration_s, warmup, probe.start, probe.end)
    if scenario.client == "wrk":
        return wrk.run_load(work, scenario.concurrency, *timing)
    return eventloop.run(loadgen.run_load(work, scenario.concurrency, *timing))


def _measure_load(options: Options, scenario: Scenario, stage: Stage) -> RunResult:
    work = loadgen.workload(stage.base_url, scenario.client_api, stage.model, scenario.stream, stage.headers)
    eventloop.run(loadgen.prime(work))
    probe = _WindowProbe(stage.subject)
    result = _load(options, scenario, work, probe)
    return RunResult(
        scenario,
        load=result,
        rss_warm_kb=probe.rss_start_kb,
        rss_end_kb=stage.subject.rss_kb(),
        cpu_us_per_request=probe.cpu_us_per_request(result.requests),
    )


def _measure_hold(options: Options, scenario: Scenario, stage: Stage) -> RunResult:
    """RSS after a streaming warm-up, then with ``scenario.hold`` streams open at once."""
    warmup = loadgen.workload(stage.base_url, scenario.client_api, stage.model, True, stage.headers)
    eventloop.run(loadgen.run_load(warmup, _HOLD_WARMUP_CONCURRENCY, options.warmup_s, 0.0))
    warm = stage.subject.rss_kb()
    held = loadgen.workload(stage.hold_base_url, scenario.client_api, stage.hold_model, True, stage.headers)
    hold: HoldResult = eventloop.run(
        loadgen.hold_streams(held, scenario.hold, options.hold_timeout_s, stage.subject.rss_kb)
    )
    return RunResult(scenario, hold=hold, rss_warm_kb=warm, rss_end_kb=hold.probe)


@contextlib.contextmanager
def staged(options: Options, scenario: Scenario) -> Iterator[Stage]:
    """The fake upstream and the process under test for one run, stopped on exit."""
    upstream_cpu = options.subject_cpu if scenario.target == "direct" else options.load_cpu
    upstream = _spawn_upstream(options, upstream_cpu)
    started = [upstream]
    try:
        stage = _STAGES[scenario.target](options, scenario, upstream)
        started.append(stage.subject)
        yield stage
    finally:
        for spawned in reversed(started):
            processes.stop(spawned)


def run_once(options: Options, scenario: Scenario) -> RunResult:
    measure = _measure_hold if scenario.hold else _measure_load
    try:
        with staged(options, scenario) as stage:
            return measure(options, scenario, stage)
    except (processes.StartError, aiohttp.ClientError, OSError, RuntimeError) as error:
        return RunResult(scenario, failure=f"{type(error).__name__}: {error}")


def _progress(run: int, runs: int, result: RunResult) -> str:
    head = f"[run {run}/{runs}] {result.scenario.key}: "
    if result.failure:
        return head + "FAILED " + result.failure.splitlines()[0]
    if result.hold is not None:
        return head + f"{result.hold.opened}/{result.hold.requested} open, RSS {result.rss_end_kb} kB"
    assert result.load is not None
    return head + f"{result.load.rps:.0f} req/s, p50 {report.number(result.load.latency_p50_ms)} ms"


def run_all(options: Options, scenarios: Sequence[Scenario]) -> dict[str, list[RunResult]]:
    results: dict[str, list[RunResult]] = {s.key: [] for s in scenarios}
    for run in range(1, options.runs + 1):
        for scenario in scenarios:
            outcome = run_once(options, scenario)
            results[scenario.key].append(outcome)
            print(_progress(run, options.runs, outcome), file=sys.stderr, flush=True)
            if outcome.failure and run == 1:
                print(outcome.failure, file=sys.stderr)
    return results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(options: Options) -> str:
    pinning = (
        f"subject on CPU {options.subject_cpu}, load generator + upstream on CPU {options.load_cpu}"
        if options.subject_cpu is not None
        else "no CPU pinning (fewer than 2 CPUs)"
    )
    return (
        f"Machine: {_cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, {eventloop.loop_name()}. {pinning}. "
        f"Medians of {options.runs} fresh-process run(s); {options.warmup_s:g} s warm-up + "
        f"{options.duration_s:g} s measured per run. "
        f"Load average at the end: {_load_average()}."
    )


def _load_average() -> str:
    # Other jobs on a shared VM are the main source of noise; the reader should see it.
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _pick(scenarios: Sequence[Scenario], options: Options) -> list[Scenario]:
    chosen = [
        s
        for s in scenarios
        if (s.target != "litellm" or options.litellm) and (s.client != "wrk" or wrk.available())
        and (s.state != "redis" or redis_server.find_binary() is not None)
    ]
    if options.only:
        chosen = [s for s in chosen if any(fnmatch.fnmatch(s.key, g) for g in options.only)]
    return chosen


def parse(argv: Sequence[str] | None, workdir: Path) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 run, short windows (< 2 min)")
    parser.add_argument("--runs", type=int, help="fresh-process runs per scenario (default 3)")
    parser.add_argument("--warmup", type=float, help="seconds of unmeasured load per run")
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--hold-streams", type=int, default=1000)
    parser.add_argument("--json-out", type=Path, help="also write every run's figures here")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness of every bench process (negative needs root; default -10: other "
        "jobs on a shared machine then take less from the measurement)",
    )
    parser.add_argument("--only", nargs="*", default=[], help="scenario key globs, e.g. 'fr-*'")
    parser.add_argument(
        "--litellm", default=shutil.which("litellm"), help="LiteLLM's `litellm` command (optional)"
    )
    args = parser.parse_args(argv)
    cpus = sorted(processes.cpus_available())
    quick = args.quick
    return Options(
        runs=args.runs or (1 if quick else 3),
        warmup_s=args.warmup if args.warmup is not None else (0.5 if quick else 1.0),
        duration_s=args.duration if args.duration is not None else (1.0 if quick else 3.0),
        hold_streams=args.hold_streams,
        hold_timeout_s=15.0,
        slow_interval_s=1.0,
        only=tuple(args.only),
        subject_cpu=cpus[1] if len(cpus) >= 2 else None,
        load_cpu=cpus[0] if len(cpus) >= 2 else None,
        litellm=args.litellm,
        workdir=workdir,
        nice=args.nice,
        json_out=args.json_out,
    )


def main(argv: Sequence[str] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="freerouter-bench-") as folder:
        options = parse(argv, Path(folder))
        processes.pin_self(options.load_cpu)
        # Children inherit the niceness, so one call covers every process of the bench.
        niceness = processes.set_niceness(options.nice)
        scenarios = _pick(all_scenarios(options.hold_streams), options)
        began = time.monotonic()
        try:
            with contextlib.ExitStack() as stack:
                binary = redis_server.find_binary()
                if binary is not None and any(s.state == "redis" for s in scenarios):
                    # One Redis for every "redis" row, on whichever core the scheduler picks (a
                    # real one would have a node of its own). Nothing is flushed between runs:
                    # the budgets never run out, so what earlier runs left changes no answer.
                    store = stack.enter_context(
                        redis_server.running(binary, options.workdir / "redis"))
                    options = dataclasses.replace(options, redis_url=store.url)
                results = run_all(options, scenarios)
        except KeyboardInterrupt:
            traceback.print_exc()
            raise SystemExit(130) from None
        took = time.monotonic() - began
        summaries = {s.key: summarise(s, results[s.key]) for s in scenarios}
        if options.json_out is not None:
            raw = {"machine": describe(options), "runs": results, "medians": summaries}
            options.json_out.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
        print(describe(options) + f" Niceness {niceness}; the bench took {took:.0f} s.")
        print()
        print(report.results_table(summaries))
        print()
        print(report.targets_table(verdicts(summaries)))
        reference = against_settled_floor(summaries)
        if any(v.met is not None for v in reference):
            print()
            print("Reference, not a target: the same pairs against a floor proxy that sets up its "
                  "garbage collector as `freerouter serve` does (router/heap.py).")
            print()
            print(report.targets_table(reference))


if __name__ == "__main__":
    main()
