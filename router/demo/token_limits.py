"""A model's tokens-per-minute limit enforced the way Groq enforces it, for the fake upstreams.

A request is charged its prompt plus its declared output (max_completion_tokens or max_tokens;
without one, the model's whole output length, as Groq counts it) when it arrives. A charge over
the limit on its own is a 413 "Request too large ... on tokens per minute (TPM): Limit N,
Requested M"; one that the last minute's charges leave no room for is a 429 with Retry-After and
"Please try again in Xs". Once the answer is out, its charge becomes what it really used. Every
answer says what is left in Groq's headers: x-ratelimit-limit-tokens, -remaining-tokens and
-reset-tokens (a Go duration, "7.66s")."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from router.types import JSON

MINUTE_S = 60.0
# What Groq counts for a request that declares no output bound: its models' longest output.
UNDECLARED_OUTPUT = 32768


@dataclass(slots=True)
class Charge:
    """One request's tokens in the minute: what it declared, until it is settled."""

    at: float
    tokens: int


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 413 or 429
    body: bytes
    headers: Mapping[str, str]


def duration(seconds: float) -> str:
    """Seconds as Groq writes them: "2m59.56s", "7.66s"."""
    minutes, rest = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes)}m{rest:.2f}s" if minutes else f"{rest:.2f}s"


class TokenMinute:
    def __init__(self, model: str, limit: int, now: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.limit = limit
        self._now = now
        self._charges: list[Charge] = []
        self.too_large = 0  # 413s answered
        self.rate_limited = 0  # 429s answered
        self.peak = 0  # the most tokens ever charged within one minute

    def _used(self, now: float) -> int:
        self._charges = [c for c in self._charges if c.at > now - MINUTE_S]
        return sum(c.tokens for c in self._charges)

    def _frees_in(self, now: float, need: int) -> float:
        """Seconds until `need` more tokens fit."""
        over = self._used(now) + need - self.limit
        for charge in self._charges:
            over -= charge.tokens
            if over <= 0:
                return max(charge.at + MINUTE_S - now, 0.0)
        return MINUTE_S

    def admit(self, prompt: int, body: JSON) -> Charge | Refusal:
        """Charge a request of `prompt` tokens whose body declares its output, or refuse it."""
        declared = next((v for k in ("max_completion_tokens", "max_tokens")
                         if isinstance(v := body.get(k), int) and v > 0), UNDECLARED_OUTPUT)
        requested = prompt + declared
        now = self._now()
        used = self._used(now)
        where = f"for model `{self.model}` in organization `org_fake` service tier `on_demand`"
        if requested > self.limit:
            self.too_large += 1
            message = (f"Request too large {where} on tokens per minute (TPM): Limit "
                       f"{self.limit}, Requested {requested}, please reduce your message size "
                       "and try again.")
            return Refusal(413, _error(message), self.headers())
        if used + requested > self.limit:
            self.rate_limited += 1
            wait = self._frees_in(now, requested)
            message = (f"Rate limit reached {where} on tokens per minute (TPM): Limit "
                       f"{self.limit}, Used {used}, Requested {requested}. Please try again in "
                       f"{duration(wait)}.")
            return Refusal(429, _error(message),
                           {**self.headers(), "retry-after": str(max(math.ceil(wait), 1))})
        charge = Charge(now, requested)
        self._charges.append(charge)
        self.peak = max(self.peak, used + requested)
        return charge

    def settle(self, charge: Charge, used: int) -> None:
        """The answer is out: its charge is what it really used (Groq bills usage)."""
        charge.tokens = used

    def headers(self) -> dict[str, str]:
        now = self._now()
        used = self._used(now)
        full_in = max((c.at + MINUTE_S - now for c in self._charges), default=0.0)
        return {"x-ratelimit-limit-tokens": str(self.limit),
                "x-ratelimit-remaining-tokens": str(max(self.limit - used, 0)),
                "x-ratelimit-reset-tokens": duration(full_in)}


def _error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "tokens",
                                   "code": "rate_limit_exceeded"}})
