"""The bench's verdicts from medians: the reference pairs against the settled floor."""

from __future__ import annotations

from bench.scenarios import Summary, against_settled_floor, all_scenarios

_SCENARIOS = {s.key: s for s in all_scenarios(hold_streams=10)}


def _summary(key: str, rps: float, cpu_us: float) -> Summary:
    return Summary(_SCENARIOS[key], runs=3, failed_runs=0, errors=0, rps=rps, p50_ms=1.0,
                   p99_ms=2.0, ttfc_p50_ms=None, chunks_per_s=None, rss_warm_mb=None,
                   rss_end_mb=None, cpu_us_per_request=cpu_us)


def test_each_pair_is_judged_against_the_settled_floor_row() -> None:
    summaries = {
        "floor-c64-wrk": _summary("floor-c64-wrk", 5_000, 200),
        "floor-settled-c64-wrk": _summary("floor-settled-c64-wrk", 6_000, 166),
        "fr-c64-wrk": _summary("fr-c64-wrk", 5_400, 185),
        "fr-a2o-c64-wrk": _summary("fr-a2o-c64-wrk", 4_200, 238),
    }

    verdicts = {v.target.split(" ")[0]: v for v in against_settled_floor(summaries)}

    assert verdicts["OpenAI->OpenAI"].ratio == 0.9 and verdicts["OpenAI->OpenAI"].met
    assert verdicts["Anthropic->OpenAI"].ratio == 0.7 and verdicts["Anthropic->OpenAI"].met is False
    assert verdicts["Responses->OpenAI"].met is None  # not measured in this run
