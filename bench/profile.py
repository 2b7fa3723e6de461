"""Profile the process under test of one scenario with py-spy while the bench loads it.

    python -m bench.profile [--only fr-c64] [--seconds 15] [--out /tmp/freerouter.txt]

Prints the functions with the largest share of samples, by own time (the code
that runs) and by inclusive time (the call paths that cost). The raw collapsed
stacks are kept at ``--out`` (open them with speedscope or flamegraph.pl).
Needs ``py-spy`` (``pip install py-spy``) and permission to ptrace (root).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import eventloop, loadgen, processes, run
from bench.scenarios import Scenario, all_scenarios

# py-spy frames look like "handle (router/proxy.py:123)"; the line number is
# dropped so every line of a function adds up to the function.
_LINE_SUFFIX = re.compile(r":\d+\)$")


@dataclass(frozen=True)
class Profile:
    samples: int
    own: Counter[str]
    inclusive: Counter[str]
    own_by_file: Counter[str]


def _function(frame: str) -> str:
    return _LINE_SUFFIX.sub(")", frame.strip())


def _file(function: str) -> str:
    return function.rpartition("(")[2].rstrip(")") or function


def parse_collapsed(text: str) -> Profile:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";")]
        # The first frame is the thread name in py-spy's raw format.
        frames = frames[1:] if frames and frames[0].startswith(("process ", "thread ")) else frames
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        by_file[_file(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count
    return Profile(total, own, inclusive, by_file)


def render(profile: Profile, top: int) -> str:
    lines = [f"{profile.samples} samples"]
    sections = (
        ("own time per file", profile.own_by_file),
        ("own time", profile.own),
        ("inclusive time", profile.inclusive),
    )
    for title, counter in sections:
        lines += ["", f"top {top} by {title}:"]
        for name, count in counter.most_common(top):
            lines.append(f"{100.0 * count / max(profile.samples, 1):6.1f}%  {name}")
    return "\n".join(lines)


def _scenario(key: str, hold_streams: int) -> Scenario:
    for scenario in all_scenarios(hold_streams):
        if scenario.key == key:
            return scenario
    raise SystemExit(f"no scenario {key!r}")


def profile(options: run.Options, scenario: Scenario, seconds: int, rate: int, out: Path) -> Profile:
    with run.staged(options, scenario) as stage:
        work = loadgen.workload(
            stage.base_url, scenario.client_api, stage.model, scenario.stream, stage.headers
        )
        eventloop.run(loadgen.prime(work))
        spy = subprocess.Popen(
            [
                "py-spy", "record", "--pid", str(stage.subject.process.pid),
                "--rate", str(rate), "--duration", str(seconds),
                "--format", "raw", "--output", str(out), "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        # Load runs a little longer than the recording so every sample is under load.
        result = eventloop.run(loadgen.run_load(work, scenario.concurrency, seconds + 1.0, 0.5))
        _, errors = spy.communicate()
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')}")
    print(f"{scenario.label}: {result.rps:.0f} req/s under the profiler", file=sys.stderr)
    return parse_collapsed(out.read_text())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="fr-c64", help="scenario key (see bench.scenarios)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path("/tmp/freerouter-profile.txt"))
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="freerouter-profile-") as folder:
        options = run.parse([], Path(folder))
        processes.pin_self(options.load_cpu)
        processes.set_niceness(options.nice)
        scenario = _scenario(args.only, options.hold_streams)
        found = profile(options, scenario, args.seconds, args.rate, args.out)
    print(render(found, args.top))


if __name__ == "__main__":
    main()
