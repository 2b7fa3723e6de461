"""Human-readable tables for `freerouter check` (a resolved config) and `freerouter status`
(a running router's /status)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import orjson

from providers.http11 import Http11Transport
from providers.transport import Timeouts
from router.config import Config
from router.state.backends import NEEDS_URL, safe_address

STATUS_TIMEOUT_S = 10.0
MAX_STATUS_BYTES = 16 * 1024 * 1024


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pool_table(config: Config) -> str:
    providers = table(
        ["provider", "api", "base_url", "key", "discover", "rpm", "rpd", "tpm", "tpd",
         "counts max_tokens"],
        [[p.name, p.api.value, p.base_url, p.api_key_env or "(none)", p.discover, p.rpm, p.rpd,
          p.tpm, p.tpd, "yes" if p.counts_max_tokens else ""] for p in config.providers],
    )
    backends = table(
        ["backend", "capabilities", "context", "weight", "rpm", "rpd", "tpm", "tpd"],
        [[b.id, ",".join(sorted(c.value for c in b.capabilities)) or "-", b.context_length,
          b.weight, b.rpm, b.rpd, b.tpm, b.tpd] for b in config.backends()],
    )
    ids = [b.id for b in config.backends()]
    routes = table(
        ["route", "strategy", "max_attempts", "backends"],
        [[r.name, r.strategy, r.max_attempts,
          len([i for i in ids if any(fnmatch.fnmatchcase(i, g) for g in r.backends)])]
         for r in config.routes],
    )
    aliases = "\n".join(f"  {glob} -> {target}" for glob, target in config.aliases) or "  (none)"
    return (f"config: {config.source}\n\nproviders\n{providers}\n\nbackends\n{backends}\n\n"
            f"routes\n{routes}\n\naliases\n{aliases}\n\nstate\n  {state_line(config)}")


def state_line(config: Config) -> str:
    """Where budgets and cooldowns live; the store's address never shows its password."""
    state = config.state
    if state.backend not in NEEDS_URL or config.state_url is None:
        return f"{state.backend} (this process only)"
    return (f"{state.backend} at {safe_address(config.state_url)} (from {state.url_env}), "
            f"key_prefix {state.key_prefix!r}, timeout {state.timeout_ms:g} ms, "
            f"responses kept {state.response_ttl_s:g} s")


async def fetch_status(url: str, key: str | None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = Http11Transport(Timeouts(total_s=STATUS_TIMEOUT_S))
    try:
        resp = await transport.request("GET", url.rstrip("/") + "/status", headers)
        try:
            raw = await resp.read(MAX_STATUS_BYTES)
        finally:
            resp.release()
    finally:
        await transport.aclose()
    if resp.status != 200:
        raise RuntimeError(f"{url}/status answered {resp.status}")
    data = orjson.loads(raw)
    rows = []
    for b in data.get("backends", []):
        budget = b.get("budget") or {}
        rows.append([
            b["id"], b["state"], b["score"], b.get("latency_ms_p50"), b.get("error_rate"),
            b.get("cooldown_s"), b.get("cooldown_reason") or "", budget.get("rpm_left"),
            budget.get("rpd_left"), budget.get("tpm_left"), budget.get("tpd_left"),
            b.get("requests"), b.get("failures"), b.get("inflight"),
        ])
    return table(["backend", "state", "score", "p50 ms", "err rate", "cooldown s", "why",
                  "rpm left", "rpd left", "tpm left", "tpd left", "requests", "failures",
                  "inflight"], rows)
