"""Rendering the medians and the target verdicts as markdown."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.scenarios import Summaries, Summary, Verdict, added


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pair(a: float | None, b: float | None, digits: int = 2) -> str:
    if a is None and b is None:
        return "-"
    return f"{number(a, digits)} / {number(b, digits)}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _ttfc(summaries: Summaries, row: Summary) -> str:
    if row.ttfc_p50_ms is None:
        return "-"
    extra = added(summaries, row.scenario.key, lambda s: s.ttfc_p50_ms)
    if row.scenario.target == "direct" or extra is None:
        return number(row.ttfc_p50_ms)
    return f"{number(row.ttfc_p50_ms)} ({_signed(extra)})"


def _added(summaries: Summaries, row: Summary) -> str:
    if row.scenario.target == "direct":
        return "-"
    p50 = added(summaries, row.scenario.key, lambda s: s.p50_ms)
    p99 = added(summaries, row.scenario.key, lambda s: s.p99_ms)
    if p50 is None and p99 is None:
        return "-"
    return f"{_signed(p50)} / {_signed(p99)}"


def _label(row: Summary) -> str:
    notes = []
    if row.failed_runs:
        notes.append(f"{row.failed_runs}/{row.runs} runs failed")
    if row.errors:
        notes.append(f"{row.errors} errors")
    if row.streams_opened is not None:
        notes.append(f"{row.streams_opened:.0f} opened in {row.seconds_to_open:.1f} s")
    return row.scenario.label + (f" ({'; '.join(notes)})" if notes else "")


Column = tuple[str, Callable[[Summaries, Summary], str]]
_COLUMNS: tuple[Column, ...] = (
    ("scenario", lambda _, r: _label(r)),
    ("req/s", lambda _, r: number(r.rps, 0)),
    ("p50 / p99 ms", lambda _, r: _pair(r.p50_ms, r.p99_ms)),
    ("added p50 / p99 ms", _added),
    ("TTFC p50 ms (added)", _ttfc),
    ("chunks/s", lambda _, r: number(r.chunks_per_s, 0)),
    ("CPU us/req", lambda _, r: number(r.cpu_us_per_request, 0)),
    ("CPU busy %", lambda _, r: number(None if r.busy is None else 100 * r.busy, 0)),
    ("RSS MB warm / end", lambda _, r: _pair(r.rss_warm_mb, r.rss_end_mb, 1)),
)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def results_table(summaries: Summaries) -> str:
    rows = [[render(summaries, row) for _, render in _COLUMNS] for row in summaries.values()]
    return _table([name for name, _ in _COLUMNS], rows)


_MET = {True: "met", False: "**not met**", None: "not measured"}


def targets_table(verdicts: Sequence[Verdict]) -> str:
    rows = [[v.target, v.measured, number(v.ratio), _MET[v.met]] for v in verdicts]
    return _table(["target", "measured", "ratio", "verdict"], rows)
