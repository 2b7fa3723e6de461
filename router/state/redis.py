"""The shared state store on Redis 6.2+ or Valkey (redis-py's asyncio client): the only module
that knows Redis exists. Each check-and-reserve is one EVALSHA of a Lua script it owns, so it is
atomic across replicas and costs one round trip. Every key starts with the configured prefix and
expires by itself.

Keys (P = key_prefix):
  P window:<window key>        sorted set of "token|cost", scored by the instant in ms
  P window:<window key>:total  the sum of those costs
  P cooldowns                  hash: cooldown key -> "until_ms|reason"
  P replicas                   sorted set of replica ids, scored by their last heartbeat
  P store-id                   a random id: a new one means the store lost its data
  P response:<id>              a stored Response

Instants are the callers' wall clock in ms: replicas must agree on the time to within the
budgets' margin (0.5 s), which NTP gives any cluster. Every failure, and every call slower than
the timeout, is a StoreError naming the operation and the error's class, never its text."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from router.clock import Clock
from router.state.store import Cooldown, Full, Replicas, Reservation, StoreError, Window

T = TypeVar("T")
ScriptArg = str | int

# A window's keys live this much longer than its span: never gone while an entry still counts.
KEY_SLACK_MS = 1000
HEARTBEAT_TTL_S = 10.0  # a replica not heard from for this long is not counted any more
# The store's id outlives the longest window: while it is there, the windows are too.
STORE_ID_TTL_S = 2 * 86400.0

# Shared by the reserve, record and room scripts: drop the entries that left the window and
# return what the window holds. KEYS[2i-1] is the log, KEYS[2i] its total; a total lost (evicted)
# is rebuilt from the log.
_PRUNE = """
local function cost_of(member)
  return tonumber(string.match(member, '|(%d+)$'))
end
local function used(log, total, now, span)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - span)
  local sum = tonumber(redis.call('GET', total))
  if #old > 0 then
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
    if sum then
      for _, m in ipairs(old) do sum = sum - cost_of(m) end
      redis.call('SET', total, sum, 'KEEPTTL')
    end
  end
  if not sum or sum < 0 then
    sum = 0
    for _, m in ipairs(redis.call('ZRANGE', log, 0, -1)) do sum = sum + cost_of(m) end
    redis.call('SET', total, sum, 'PX', span + @SLACK@)
  end
  return sum
end
-- ms until `cost` more fits a window holding `sum` (its span when it never can)
local function frees_in(log, sum, cost, limit, span, now)
  if cost > limit then return span end
  local need = sum + cost - limit
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for j = 1, #entries, 2 do
    need = need - cost_of(entries[j])
    if need <= 0 then return math.max(tonumber(entries[j+1]) + span - now, 0) end
  end
  return span
end
""".replace("@SLACK@", str(KEY_SLACK_MS))

# ARGV: now_ms, cost, token, force ("1": count without checking), then limit, span_ms per window.
# Returns {1, room..., wait_ms...} when counted (wait: until room for one more unit), and
# {0, room..., wait_ms...} when not (wait: until room for the cost; 0 where there is room).
RESERVE = _PRUNE + """
local now, cost, force = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4] == '1'
local member = ARGV[3] .. '|' .. ARGV[2]
local n = #KEYS / 2
local sums, waits, full = {}, {}, false
for i = 1, n do
  local log, limit, span = KEYS[2*i-1], tonumber(ARGV[3+2*i]), tonumber(ARGV[4+2*i])
  sums[i] = used(log, KEYS[2*i], now, span)
  waits[i] = 0
  if not force and sums[i] + cost > limit then
    waits[i] = math.ceil(frees_in(log, sums[i], cost, limit, span, now))
    full = true
  end
end
local out = {full and 0 or 1}
if not full then
  for i = 1, n do
    local log, total = KEYS[2*i-1], KEYS[2*i]
    local limit, span = tonumber(ARGV[3+2*i]), tonumber(ARGV[4+2*i])
    redis.call('ZADD', log, now, member)
    redis.call('INCRBY', total, cost)
    redis.call('PEXPIRE', log, span + @SLACK@)
    redis.call('PEXPIRE', total, span + @SLACK@)
    sums[i] = sums[i] + cost
    if sums[i] + 1 > limit then waits[i] = math.ceil(frees_in(log, sums[i], 1, limit, span, now)) end
  end
end
for i = 1, n do
  out[1+i] = math.max(tonumber(ARGV[3+2*i]) - sums[i], 0)
  out[1+n+i] = waits[i]
end
return out
""".replace("@SLACK@", str(KEY_SLACK_MS))

# ARGV: now_ms, then limit, span_ms per window. Returns the room of each.
ROOM = _PRUNE + """
local now, out = tonumber(ARGV[1]), {}
for i = 1, #KEYS / 2 do
  out[i] = math.max(tonumber(ARGV[2*i]) - used(KEYS[2*i-1], KEYS[2*i], now, tonumber(ARGV[2*i+1])), 0)
end
return out
"""

# ARGV: old member, new member ("" refunds), now_ms, then limit, span_ms per window. Each
# window keeps the entry's instant. Returns the room of each.
ADJUST = _PRUNE + """
local old, new, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local delta = -cost_of(old)
if new ~= '' then delta = delta + cost_of(new) end
local out = {}
for i = 1, #KEYS / 2 do
  local log, total = KEYS[2*i-1], KEYS[2*i]
  local score = redis.call('ZSCORE', log, old)
  if score then
    -- Removing the only member deletes the key: keep its expiry for the one added back.
    local ttl = redis.call('PTTL', log)
    redis.call('ZREM', log, old)
    if new ~= '' then
      redis.call('ZADD', log, score, new)
      if ttl > 0 then redis.call('PEXPIRE', log, ttl) end
    end
    if redis.call('EXISTS', total) == 1 then redis.call('INCRBY', total, delta) end
  end
  out[i] = math.max(tonumber(ARGV[2+2*i]) - used(log, total, now, tonumber(ARGV[3+2*i])), 0)
end
return out
"""

# KEYS[1]: the cooldown hash. ARGV: field, until_ms, reason, now_ms. Only ever extends; drops
# the cooldowns that are over and keeps the hash as long as its longest one.
SET_COOLDOWN = """
local ends, now = tonumber(ARGV[2]), tonumber(ARGV[4])
if ends <= now then return 0 end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and tonumber(string.match(current, '^(%d+)')) >= ends then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
local all, last = redis.call('HGETALL', KEYS[1]), ends
for i = 1, #all, 2 do
  local t = tonumber(string.match(all[i+1], '^(%d+)'))
  if t <= now then redis.call('HDEL', KEYS[1], all[i]) elseif t > last then last = t end
end
redis.call('PEXPIRE', KEYS[1], last - now + @SLACK@)
return 1
""".replace("@SLACK@", str(KEY_SLACK_MS))

# KEYS[1]: the replica set, KEYS[2]: the store's id. ARGV: now_ms, replica id, ttl_ms, a new
# id, the id's ttl_ms. Returns the store's id (the new one if it had none: a fresh or emptied
# store), then the replica ids seen within ttl.
HEARTBEAT = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[4], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local out = {redis.call('GET', KEYS[2])}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do out[#out+1] = id end
return out
"""


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000.0)


class RedisStore:
    shared = True

    def __init__(self, url: str, prefix: str, timeout_s: float, clock: Clock, replica: str) -> None:
        self._timeout_s = timeout_s
        self._clock = clock
        self._prefix = prefix
        self._replica = replica
        self._replicas = Replicas((replica,), replica)
        self.store_id: str | None = None  # changes when the store lost its data (a restart)
        # Reservations whose call timed out: the store may have counted them after all (a
        # frozen Redis runs what was queued once it resumes). Bounded: outages are short.
        self._in_doubt: deque[Reservation] = deque(maxlen=10_000)
        self._tokens = (f"{replica}:r{n}" for n in itertools.count())
        # One retry, at once, and only on a broken connection (a pooled one the store closed
        # when it restarted); a timeout or a refusal falls back to local state at once, and the
        # next call (or the recovery probe) tries again. Timeouts bound connecting and replies.
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
        )
        self._reserve = self._client.register_script(RESERVE)
        self._room = self._client.register_script(ROOM)
        self._adjust = self._client.register_script(ADJUST)
        self._set_cooldown = self._client.register_script(SET_COOLDOWN)
        self._heartbeat = self._client.register_script(HEARTBEAT)
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    def replicas(self) -> Replicas:
        return self._replicas

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await make()
        except (RedisError, OSError, TimeoutError) as exc:
            self._up = False
            raise StoreError(op, type(exc).__name__) from None
        self._up = True
        return result

    def _window_keys(self, windows: Sequence[Window]) -> list[str]:
        keys: list[str] = []
        for w in windows:
            log = self.key(f"window:{w.key}")
            keys += (log, f"{log}:total")
        return keys

    def _now_ms(self) -> int:
        return math.floor(self._clock.wall() * 1000.0)

    # -- windows ----------------------------------------------------------------------------

    async def _run_reserve(self, op: str, windows: Sequence[Window], cost: int, token: str,
                           now_ms: int, force: bool) -> list[int]:
        args: list[ScriptArg] = [now_ms, cost, token, 1 if force else 0]
        for w in windows:
            args += (w.limit, _ms(w.span_s))
        reply = await self._call(op, lambda: self._reserve(keys=self._window_keys(windows),
                                                           args=args))
        return [int(x) for x in reply]

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        token = next(self._tokens)
        try:
            reply = await self._run_reserve("reserve", windows, cost, token, self._now_ms(), False)
        except StoreError as exc:
            if exc.cause == "TimeoutError":
                self._in_doubt.append(Reservation(tuple(windows), cost, token, ()))
            raise
        n = len(windows)
        rooms, waits = tuple(reply[1:1 + n]), tuple(w / 1000.0 for w in reply[1 + n:])
        if reply[0] == 1:
            return Reservation(tuple(windows), cost, token, rooms, waits)
        return Full(max(waits, default=0.0), rooms, waits)

    def take_in_doubt(self) -> list[Reservation]:
        """The reservations that timed out since the last call: to be taken back, in case."""
        taken = list(self._in_doubt)
        self._in_doubt.clear()
        return taken

    async def record(self, reservation: Reservation, ago_s: float) -> None:
        """Count a reservation granted `ago_s` seconds ago elsewhere (by a replica's local
        state while this store was away), at its own instant and without asking for room."""
        await self._run_reserve("replay", reservation.windows, reservation.cost,
                                reservation.token, self._now_ms() - _ms(ago_s), True)

    async def room(self, windows: Sequence[Window]) -> tuple[int, ...]:
        if not windows:
            return ()
        args: list[ScriptArg] = [self._now_ms()]
        for w in windows:
            args += (w.limit, _ms(w.span_s))
        reply = await self._call("room", lambda: self._room(keys=self._window_keys(windows),
                                                            args=args))
        return tuple(int(x) for x in reply)

    async def _change(self, op: str, reservation: Reservation, new: str) -> tuple[int, ...]:
        windows = reservation.windows
        args: list[ScriptArg] = [f"{reservation.token}|{reservation.cost}", new, self._now_ms()]
        for w in windows:
            args += (w.limit, _ms(w.span_s))
        reply = await self._call(op, lambda: self._adjust(keys=self._window_keys(windows),
                                                          args=args))
        return tuple(int(x) for x in reply)

    async def adjust(self, reservation: Reservation, cost: int) -> Reservation:
        rooms = await self._change("adjust", reservation,
                                   f"{reservation.token}|{cost}" if cost else "")
        return Reservation(reservation.windows, cost, reservation.token, rooms)

    async def refund(self, reservation: Reservation) -> None:
        await self._change("refund", reservation, "")

    # -- cooldowns, replicas ----------------------------------------------------------------

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        args: list[ScriptArg] = [cooldown.key, _ms(cooldown.until_epoch), cooldown.reason,
                                 self._now_ms()]
        await self._call("set_cooldown", lambda: self._set_cooldown(
            keys=[self.key("cooldowns")], args=args))

    async def cooldowns(self) -> tuple[Cooldown, ...]:
        raw: dict[Any, Any] = await self._call(
            "cooldowns", lambda: self._client.hgetall(self.key("cooldowns")))
        now = self._now_ms()
        found = []
        for field, value in raw.items():
            until, _, reason = value.decode().partition("|")
            if until.isdigit() and int(until) > now:
                found.append(Cooldown(field.decode(), int(until) / 1000.0, reason))
        return tuple(found)

    async def heartbeat(self) -> Replicas:
        args: list[ScriptArg] = [self._now_ms(), self._replica, _ms(HEARTBEAT_TTL_S),
                                 secrets.token_hex(8), _ms(STORE_ID_TTL_S)]
        reply = await self._call("heartbeat", lambda: self._heartbeat(
            keys=[self.key("replicas"), self.key("store-id")], args=args))
        self.store_id = reply[0].decode()
        self._replicas = Replicas(tuple(sorted(i.decode() for i in reply[1:])), self._replica)
        return self._replicas

    # -- responses --------------------------------------------------------------------------

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        await self._call("put_response", lambda: self._client.set(
            self.key(f"response:{key}"), blob, px=max(_ms(ttl_s), 1)))

    async def get_response(self, key: str) -> bytes | None:
        blob: Any = await self._call(
            "get_response", lambda: self._client.get(self.key(f"response:{key}")))
        return bytes(blob) if blob is not None else None

    async def delete_response(self, key: str) -> bool:
        gone: int = await self._call(
            "delete_response", lambda: self._client.delete(self.key(f"response:{key}")))
        return gone > 0

    async def maintain(self) -> None:
        return None  # FallbackStore keeps the heartbeat and the recovery

    async def aclose(self) -> None:
        # Leave the replica set at once: the others' shares grow without waiting for the TTL.
        with contextlib.suppress(StoreError):
            await self._call("leave", lambda: self._client.zrem(self.key("replicas"),
                                                                  self._replica))
        await self._client.aclose()
