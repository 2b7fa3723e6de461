"""Client keys and their rate limits: who may call /v1/* and /status, and how often."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from router.client_limits import ClientLimits
from router.errors import TooManyRequests, Unauthorized

# Paths that never need a client key (restrict them by network policy instead), and the web
# console's page and files, which hold no data.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/", "/ui"})
OPEN_PREFIX = "/ui/"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIX)


async def admit(request: web.Request, client_keys: Mapping[str, str], limits: ClientLimits,
                rpm: int | None) -> str:
    """The name of the client key presented, once it is valid and within its rate limit."""
    name = authenticate(request, client_keys)
    wait = await limits.admit(name, rpm)
    if wait is not None:
        raise TooManyRequests(f"client key {name!r} is over its request rate limit",
                              retry_after_s=wait)
    return name


def authenticate(request: web.Request, client_keys: Mapping[str, str]) -> str:
    """The name of the client key presented; `client_keys` maps key -> name."""
    presented = _presented_key(request)
    if presented is None:
        raise Unauthorized("a client key is required (Authorization: Bearer KEY or x-api-key)")
    # aiohttp decodes header bytes with surrogateescape: encode them back the same way.
    given = presented.encode("utf-8", "surrogateescape")
    found = None
    for key, name in client_keys.items():  # compare with every key, in constant time each
        if hmac.compare_digest(key.encode(), given):
            found = name
    if found is None:
        raise Unauthorized("the client key is not valid")
    return found


def _presented_key(request: web.Request) -> str | None:
    """A non-empty Bearer token, else x-api-key (some SDKs send both)."""
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    return bearer or request.headers.get("x-api-key") or None
