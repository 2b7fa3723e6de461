"""What one request asks of one backend's token budgets (INTERFACE.md's "Token budgets"): its
estimate, and for an upstream that counts the output a request declares (`counts_max_tokens`:
Groq, Cerebras) the bound it is told to declare and the room that bound needs reserved.

Such an upstream refuses a request whose prompt plus declared max_tokens is over its budget
(Groq's 413), charges that sum while the request runs (a concurrent request meets its 429), and
without a declared bound counts the whole context. So the router always declares one for it, and
reserves what it declares: the provider's count never exceeds the router's."""

from __future__ import annotations

import math

from router.types import Backend, Needs

# The output bound a request without max_tokens declares (as INTERFACE.md bounds one to an
# Anthropic upstream).
DECLARED_OUTPUT = 4096
# The estimate (4 characters a token) runs up to about 10% short of a real tokenizer's count:
# code and JSON are denser than prose.
PROMPT_SLACK = 1.1


def token_estimate(needs: Needs, min_output: int) -> int:
    """What a request reserves in token budgets: its estimated prompt plus the output it is
    forwarded with (the client's max_tokens, a ceiling), capped at `min_output`."""
    output = min_output if needs.max_output is None else min(needs.max_output, min_output)
    return needs.prompt_tokens + max(output, 0)


def prompt_charge(needs: Needs) -> int:
    """The most an upstream may count the prompt as."""
    return math.ceil(needs.prompt_tokens * PROMPT_SLACK)


def least(backend: Backend, needs: Needs, estimate: int) -> int:
    """The fewest tokens `backend`'s budgets must have for the request (`estimate` from
    token_estimate): for an upstream counting declared output, the estimate's output part on top
    of the most it may count the prompt as."""
    if not backend.counts_max_tokens:
        return estimate
    return estimate - needs.prompt_tokens + prompt_charge(needs)


def most(backend: Backend, needs: Needs) -> int | None:
    """As many tokens as the request would like reserved (None: its estimate is all): for an
    upstream counting declared output, the prompt and the whole bound it would declare."""
    if not backend.counts_max_tokens:
        return None
    return prompt_charge(needs) + _wanted(backend, needs)


def declared(backend: Backend, needs: Needs, granted: int) -> int | None:
    """The output bound to declare to `backend` once its budgets granted `granted` tokens (0:
    it has none): what the grant leaves after the prompt, within the client's ceiling (else
    DECLARED_OUTPUT) and the context; None for an upstream that does not count it."""
    if not backend.counts_max_tokens:
        return None
    bound = _wanted(backend, needs)
    if granted:
        bound = min(bound, granted - prompt_charge(needs))
    return max(bound, 1)


def _wanted(backend: Backend, needs: Needs) -> int:
    room = max(backend.context_length - needs.prompt_tokens, 1)
    return min(needs.max_output or DECLARED_OUTPUT, room)
