"""The shared state store on Redis 6.2+ or Valkey (through router.state.resp): the only module
that knows what the store keeps in Redis. Each check-and-reserve is one EVALSHA of a Lua script
it owns, so it is atomic across replicas and costs one round trip. Every key starts with the
configured prefix and expires by itself.

Keys (P = key_prefix):
  P window:<window key>        sorted set of "token|cost", scored by the instant in ms
  P window-totals              hash: window key -> its costs' excess over one per entry
  P cooldowns                  hash: cooldown key -> "until_ms|reason"
  P reports                    hash: report key -> "as_of_ms|until_ms|remaining|limit"
  P replicas                   sorted set of replica ids, scored by their last heartbeat
  P store-id                   a random id: a new one means the store lost its data
  P response:<id>              a stored Response

Instants are the callers' wall clock in ms: replicas must agree on the time to within the
budgets' margin (0.5 s), which NTP gives any cluster. Every failure, and every call slower than
the timeout, is a StoreError naming the operation and the error's class, never its text."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from router.clock import Clock
from router.state.resp import Reply, ReplyLost, RespClient, RespError
from router.state.store import (
    Cooldown,
    Full,
    Replicas,
    Report,
    Reservation,
    StoreError,
    Window,
)

T = TypeVar("T")
ScriptArg = str | int
MAX_PACKED = 10_000
# A reply the store's client cannot read (a corrupted value, another version's script): a store
# failure like any other, never an error of the router's.
UNREADABLE = (ValueError, TypeError, IndexError, AttributeError)
# The failures after which a reservation may have been counted all the same (a frozen store runs
# what was queued once it resumes; a connection may end after the script ran).
IN_DOUBT = frozenset({"TimeoutError", ReplyLost.__name__})


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script this store owns, called by its SHA1 (EVALSHA): one round trip."""

    text: str

    @property
    def sha(self) -> str:
        return _sha1(self.text)


@functools.cache
def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

# A window's keys live this much longer than its span: never gone while an entry still counts.
KEY_SLACK_MS = 1000
HEARTBEAT_TTL_S = 10.0  # a replica not heard from for this long is not counted any more
# The store's id outlives the longest window: while it is there, the windows are too.
STORE_ID_TTL_S = 2 * 86400.0

# Shared by the window scripts. KEYS are the windows' logs, then one hash holding, per log, the
# "excess" of its costs over one per entry: a window of requests (every cost 1) is counted by
# ZCARD and never touches the hash; a window of tokens keeps its sum there. ARGV carries the
# windows' limits, spans and whether they count 1 per reservation (1) or its cost (0), packed as
# "limit:span_ms:per_request,...". Every redis.call costs a few
# microseconds on the request path: the scripts make as few as they can.
_WINDOWS = """
local totals = KEYS[#KEYS]
local n = #KEYS - 1
-- A number as the digits Python reads back: Lua 5.1 writes one of 1e14 or more as "1e+14"
-- (concatenation and table.concat alike), which no member pattern nor int() would read.
local function int(x) return string.format('%.0f', x) end
local function ints(t)
  local out = {}
  for i = 1, #t do out[i] = int(t[i]) end
  return table.concat(out, ',')
end
local function cost_of(member)
  return tonumber(string.match(member, '|(%d+)$'))
end
local function spec(packed)
  local out = {}
  for limit, span, per in string.gmatch(packed, '(%d+):(%d+):(%d)') do
    out[#out+1] = {tonumber(limit), tonumber(span), per == '1'}
  end
  return out
end
local function keep(key, ttl)  -- extend a key's life, never shorten it
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function add_excess(log, delta, ttl)
  if delta ~= 0 then
    if redis.call('HINCRBY', totals, log, delta) == 0 then redis.call('HDEL', totals, log) end
    keep(totals, ttl)
  end
end
-- Every window's excess, in one call.
local excesses = n > 0 and redis.call('HMGET', totals, unpack(KEYS, 1, n)) or {}
-- What window i holds now, once the entries that left it are dropped. An excess that outlived
-- its log (expired apart), or went wrong (evicted), is rebuilt from the log.
local function used(i, now, span)
  local log = KEYS[i]
  local excess = tonumber(excesses[i] or '0')
  local before = excess
  if excess == 0 then
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
  else
    local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - span)
    if #old > 0 then
      redis.call('ZREMRANGEBYSCORE', log, '-inf', now - span)
      for _, m in ipairs(old) do excess = excess - (cost_of(m) - 1) end
    end
  end
  local count = redis.call('ZCARD', log)
  if count == 0 then excess = 0 end
  if excess < 0 then
    excess = 0
    for _, m in ipairs(redis.call('ZRANGE', log, 0, -1)) do excess = excess + cost_of(m) - 1 end
  end
  if excess ~= before then
    if excess == 0 then redis.call('HDEL', totals, log) else redis.call('HSET', totals, log, excess) end
  end
  return count + excess
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
"""

# ARGV: now_ms, cost, token, force ("1": count without checking), the windows' spec.
# Returns "1|room,...|wait_ms,..." when counted (wait: until room for one more unit), and
# "0|room,...|wait_ms,..." when not (wait: until room for the cost; 0 where there is room).
RESERVE = Script(_WINDOWS + """
local now, cost, force = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4] == '1'
local windows = spec(ARGV[5])
local sums, waits, charges, full = {}, {}, {}, false
-- Sent twice (a connection lost before its reply): counted once, and granted again.
local again = n > 0 and redis.call('ZSCORE', KEYS[1],
  ARGV[3] .. '|' .. int(windows[1][3] and 1 or cost)) ~= false
if again then force = true end
for i = 1, n do
  local limit, span = windows[i][1], windows[i][2]
  charges[i] = windows[i][3] and 1 or cost
  sums[i] = used(i, now, span)
  waits[i] = 0
  if not force and sums[i] + charges[i] > limit then
    waits[i] = math.ceil(frees_in(KEYS[i], sums[i], charges[i], limit, span, now))
    full = true
  end
end
if not full then
  for i = 1, n do
    local limit, span, charge = windows[i][1], windows[i][2], charges[i]
    if not again then
      redis.call('ZADD', KEYS[i], now, ARGV[3] .. '|' .. int(charge))
      redis.call('PEXPIRE', KEYS[i], span + @SLACK@)
      add_excess(KEYS[i], charge - 1, span + @SLACK@)
      sums[i] = sums[i] + charge
    end
    if sums[i] + 1 > limit then waits[i] = math.ceil(frees_in(KEYS[i], sums[i], 1, limit, span, now)) end
  end
end
local rooms = {}
for i = 1, n do rooms[i] = math.max(windows[i][1] - sums[i], 0) end
return (full and '0|' or '1|') .. ints(rooms) .. '|' .. ints(waits)
""".replace("@SLACK@", str(KEY_SLACK_MS)))

# ARGV: now_ms, the windows' spec. Returns "room,...".
ROOM = Script(_WINDOWS + """
local now, windows, rooms = tonumber(ARGV[1]), spec(ARGV[2]), {}
for i = 1, n do rooms[i] = math.max(windows[i][1] - used(i, now, windows[i][2]), 0) end
return ints(rooms)
""")

# ARGV: token, its cost, the new cost ("" refunds it from every window; 0 takes it out of the
# cost-counting ones), now_ms, the windows' spec. Per-request windows keep their entry unless
# refunded; each window keeps the entry's instant. Returns "room,...".
ADJUST = Script(_WINDOWS + """
local token, old, new, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local windows, whole = spec(ARGV[5]), ARGV[3] == ''
local cost = whole and 0 or tonumber(new)
local rooms = {}
for i = 1, n do
  local per = windows[i][3]
  if whole or not per then
    local was = per and 1 or old
    local member = token .. '|' .. int(was)
    local score = redis.call('ZSCORE', KEYS[i], member)
    if score then
      -- The excess an entry brings is its cost less the one ZCARD counts for it.
      local delta = -(was - 1)
      -- Removing the only member deletes the key: keep its expiry for the one added back.
      local ttl = redis.call('PTTL', KEYS[i])
      redis.call('ZREM', KEYS[i], member)
      if cost > 0 then
        redis.call('ZADD', KEYS[i], score, token .. '|' .. int(cost))
        if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
        delta = delta + cost - 1
      end
      add_excess(KEYS[i], delta, windows[i][2] + @SLACK@)
      excesses[i] = redis.call('HGET', totals, KEYS[i])
    end
  end
  rooms[i] = math.max(windows[i][1] - used(i, now, windows[i][2]), 0)
end
return ints(rooms)
""".replace("@SLACK@", str(KEY_SLACK_MS)))

# KEYS[1]: the cooldown hash. ARGV: field, until_ms, reason, now_ms. Only ever extends; drops
# the cooldowns that are over and keeps the hash as long as its longest one.
SET_COOLDOWN = Script("""
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
""".replace("@SLACK@", str(KEY_SLACK_MS)))

# KEYS[1]: the reports hash. ARGV: now_ms, then per report its field, remaining, until_ms,
# as_of_ms and limit ("" when not said). A report replaces one as of no later; those whose
# reset has come are dropped, and the hash lives as long as its last one.
PUT_REPORTS = Script("""
local now = tonumber(ARGV[1])
for i = 2, #ARGV, 5 do
  local as_of = tonumber(ARGV[i+3])
  if tonumber(ARGV[i+2]) > now then
    local current = redis.call('HGET', KEYS[1], ARGV[i])
    local held = current and tonumber(string.match(current, '^(%d+)|'))
    if not held or held <= as_of then
      redis.call('HSET', KEYS[1], ARGV[i],
                 ARGV[i+3] .. '|' .. ARGV[i+2] .. '|' .. ARGV[i+1] .. '|' .. ARGV[i+4])
    end
  end
end
local all, last = redis.call('HGETALL', KEYS[1]), now
for i = 1, #all, 2 do
  local t = tonumber(string.match(all[i+1], '^%d+|(%d+)|'))
  if not t or t <= now then redis.call('HDEL', KEYS[1], all[i]) elseif t > last then last = t end
end
if last > now then redis.call('PEXPIRE', KEYS[1], last - now + @SLACK@) end
return 1
""".replace("@SLACK@", str(KEY_SLACK_MS)))

# KEYS[1]: the replica set, KEYS[2]: the store's id. ARGV: now_ms, replica id, ttl_ms, a new
# id, the id's ttl_ms. Returns the store's id (the new one if it had none: a fresh or emptied
# store), then the replica ids seen within ttl.
HEARTBEAT = Script("""
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[4], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local out = {redis.call('GET', KEYS[2])}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do out[#out+1] = id end
return out
""")


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000.0)


def _fields(reply: Reply) -> list[tuple[bytes, bytes]]:
    """HGETALL's flat list of fields and values, as pairs."""
    if not isinstance(reply, list) or not all(isinstance(x, bytes) for x in reply):
        raise ValueError("not a hash")
    flat = cast(list[bytes], reply)
    return list(zip(flat[::2], flat[1::2], strict=True))


def _ints(packed: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in packed.split(b",")) if packed else ()


class RedisStore:
    shared = True

    def __init__(self, url: str, prefix: str, timeout_s: float, clock: Clock, replica: str) -> None:
        self._timeout_s = timeout_s
        self._clock = clock
        self._prefix = prefix
        self._totals = f"{prefix}window-totals"
        self._replica = replica
        self._replicas = Replicas((replica,), replica)
        self.store_id: str | None = None  # changes when the store lost its data (a restart)
        # Reservations whose call failed in doubt (IN_DOUBT): taken back later, in case.
        # Bounded: outages are short.
        self._in_doubt: deque[Reservation] = deque(maxlen=10_000)
        self._tokens = (f"{replica}:r{n}" for n in itertools.count())
        # Every call is bounded as a whole by _call's timeout (connecting included); a call
        # whose reply was lost goes once more (_call); a timeout or a refusal falls back to
        # local state at once, and the next call (or the recovery probe) connects afresh.
        # Stored Responses (up to megabytes each) go on a connection of their own, so that no
        # budget check waits behind one.
        self._client = RespClient(url, connect_timeout_s=timeout_s)
        self._blobs = RespClient(url, connect_timeout_s=timeout_s)
        # Per window tuple (Budgets hands the same ones over again): its keys and packed spec.
        self._packed: dict[tuple[Window, ...], tuple[list[str], str]] = {}
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    def replicas(self) -> Replicas:
        return self._replicas

    def key(self, name: str) -> str:
        return f"{self._prefix}{name}"

    async def _call(self, op: str, make: Callable[[], Awaitable[T]]) -> T:
        """`make` sends and reads the reply: whatever goes wrong in either is a StoreError."""
        try:
            async with asyncio.timeout(self._timeout_s):
                try:
                    result = await make()
                except ReplyLost:
                    # The connection ended under the call (a store that restarted since the
                    # last one): every command this store sends is safe to run twice (RESERVE
                    # knows its token), so it goes once more, on a fresh connection.
                    result = await make()
        except (RespError, OSError, TimeoutError, *UNREADABLE) as exc:
            self._up = False
            raise StoreError(op, type(exc).__name__) from None
        self._up = True
        return result

    async def _eval(self, script: Script, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """EVALSHA, loading the script first when the store does not know it (yet, or any
        more: a restart, a SCRIPT FLUSH)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._client.execute(*command)
        except RespError as exc:
            if exc.kind != "NOSCRIPT":
                raise
            await self._client.execute("SCRIPT", "LOAD", script.text)
            return await self._client.execute(*command)

    def _pack(self, windows: Sequence[Window]) -> tuple[list[str], str]:
        """The keys of `windows` and their limits and spans as the scripts take them."""
        key = tuple(windows)
        packed = self._packed.get(key)
        if packed is None:
            if len(self._packed) >= MAX_PACKED:
                self._packed.clear()
            keys = [*(self.key(f"window:{w.key}") for w in windows), self._totals]
            packed = self._packed[key] = (keys, ",".join(
                f"{w.limit}:{_ms(w.span_s)}:{1 if w.per_request else 0}" for w in windows))
        return packed

    def _now_ms(self) -> int:
        return math.floor(self._clock.wall() * 1000.0)

    async def ping(self) -> None:
        """One round trip that does nothing: the floor of every other call."""
        await self._call("heartbeat", lambda: self._client.execute("PING"))

    # -- windows ----------------------------------------------------------------------------

    async def _run_reserve(self, op: str, windows: Sequence[Window], cost: int, token: str,
                           now_ms: int, force: bool) -> tuple[bool, tuple[int, ...], tuple[float, ...]]:
        keys, spec = self._pack(windows)
        args: list[ScriptArg] = [now_ms, cost, token, 1 if force else 0, spec]
        async def run() -> tuple[bool, tuple[int, ...], tuple[float, ...]]:
            reply: bytes = await self._eval(RESERVE, keys, args)
            granted, rooms, waits = reply.split(b"|")
            return (granted == b"1", _ints(rooms), tuple(w / 1000.0 for w in _ints(waits)))

        return await self._call(op, run)

    async def reserve(self, windows: Sequence[Window], cost: int = 1) -> Reservation | Full:
        token = next(self._tokens)
        try:
            granted, rooms, waits = await self._run_reserve(
                "reserve", windows, cost, token, self._now_ms(), False)
        except StoreError as exc:
            if exc.cause in IN_DOUBT:
                self._in_doubt.append(Reservation(tuple(windows), cost, token, ()))
            raise
        if granted:
            return Reservation(tuple(windows), cost, token, rooms, waits)
        return Full(max(waits, default=0.0), rooms, waits)

    def take_in_doubt(self) -> list[Reservation]:
        """The reservations that timed out since the last call: to be taken back, in case."""
        taken = list(self._in_doubt)
        self._in_doubt.clear()
        return taken

    async def record_many(self, grants: Sequence[tuple[Reservation, float]]) -> None:
        """Count reservations granted elsewhere (by replicas' local state while this store was
        away), each `ago` seconds ago, at their own instants and without asking for room: one
        pipelined round trip for the lot (the caller keeps batches small)."""
        if not grants:
            return
        now = self._now_ms()

        async def run() -> None:
            commands: list[tuple[ScriptArg, ...]] = [("SCRIPT", "LOAD", RESERVE.text)]
            for reservation, ago in grants:  # a restarted store knows no script: loaded first
                keys, spec = self._pack(reservation.windows)
                commands.append(("EVALSHA", RESERVE.sha, len(keys), *keys, now - _ms(ago),
                                 reservation.cost, reservation.token, 1, spec))
            await self._client.execute_many(commands)

        await self._call("replay", run)

    async def room(self, windows: Sequence[Window]) -> tuple[int, ...]:
        if not windows:
            return ()
        keys, spec = self._pack(windows)
        args: list[ScriptArg] = [self._now_ms(), spec]
        async def run() -> tuple[int, ...]:
            return _ints(await self._eval(ROOM, keys, args))

        return await self._call("room", run)

    async def _change(self, op: str, reservation: Reservation, new: str) -> tuple[int, ...]:
        windows = reservation.windows
        keys, spec = self._pack(windows)
        args: list[ScriptArg] = [reservation.token, reservation.cost, new, self._now_ms(), spec]

        async def run() -> tuple[int, ...]:
            return _ints(await self._eval(ADJUST, keys, args))

        return await self._call(op, run)

    async def adjust(self, reservation: Reservation, cost: int) -> Reservation:
        rooms = await self._change("adjust", reservation, str(cost))
        return Reservation(reservation.windows, cost, reservation.token, rooms)

    async def refund(self, reservation: Reservation) -> None:
        await self._change("refund", reservation, "")

    # -- cooldowns, replicas ----------------------------------------------------------------

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        args: list[ScriptArg] = [cooldown.key, _ms(cooldown.until_epoch), cooldown.reason,
                                 self._now_ms()]
        await self._call("set_cooldown", lambda: self._eval(SET_COOLDOWN, [self.key("cooldowns")], args))

    async def cooldowns(self) -> tuple[Cooldown, ...]:
        async def run() -> tuple[Cooldown, ...]:
            raw = _fields(await self._client.execute("HGETALL", self.key("cooldowns")))
            now = self._now_ms()
            found = []
            for field, value in raw:
                until, _, reason = value.decode().partition("|")
                if until.isdigit() and int(until) > now:
                    found.append(Cooldown(field.decode(), int(until) / 1000.0, reason))
            return tuple(found)

        return await self._call("cooldowns", run)

    # -- what providers report ------------------------------------------------------------

    async def put_reports(self, reports: Sequence[Report]) -> None:
        if not reports:
            return
        args: list[ScriptArg] = [self._now_ms()]
        for r in reports:
            args += [r.key, max(r.remaining, 0), _ms(r.until_epoch), math.floor(r.as_of_epoch * 1000.0),
                     "" if r.limit is None else r.limit]
        await self._call("put_reports", lambda: self._eval(PUT_REPORTS, [self.key("reports")], args))

    async def reports(self) -> tuple[Report, ...]:
        async def run() -> tuple[Report, ...]:
            raw = _fields(await self._client.execute("HGETALL", self.key("reports")))
            now = self._now_ms()
            found = []
            for field, value in raw:
                parts = value.decode().split("|")
                if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
                    continue  # written by another version: not ours to read
                as_of, until, remaining = (int(p) for p in parts[:3])
                if until > now:
                    limit = int(parts[3]) if parts[3].isdigit() else None
                    found.append(Report(field.decode(), remaining, until / 1000.0,
                                        as_of / 1000.0, limit))
            return tuple(found)

        return await self._call("reports", run)

    async def heartbeat(self) -> Replicas:
        args: list[ScriptArg] = [self._now_ms(), self._replica, _ms(HEARTBEAT_TTL_S),
                                 secrets.token_hex(8), _ms(STORE_ID_TTL_S)]
        keys = [self.key("replicas"), self.key("store-id")]
        async def run() -> tuple[str, Replicas]:
            reply = await self._eval(HEARTBEAT, keys, args)
            ids = tuple(sorted(i.decode() for i in reply[1:]))
            return reply[0].decode(), Replicas(ids, self._replica)

        self.store_id, self._replicas = await self._call("heartbeat", run)
        return self._replicas

    # -- responses --------------------------------------------------------------------------

    async def put_response(self, key: str, blob: bytes, ttl_s: float) -> None:
        await self._call("put_response", lambda: self._blobs.execute(
            "SET", self.key(f"response:{key}"), blob, "PX", max(_ms(ttl_s), 1)))

    async def get_response(self, key: str) -> bytes | None:
        async def run() -> bytes | None:
            blob = await self._blobs.execute("GET", self.key(f"response:{key}"))
            if blob is not None and not isinstance(blob, bytes):
                raise ValueError("not a stored response")
            return blob

        return await self._call("get_response", run)

    async def delete_response(self, key: str) -> bool:
        gone = await self._call(
            "delete_response", lambda: self._blobs.execute("DEL", self.key(f"response:{key}")))
        return isinstance(gone, int) and gone > 0

    async def maintain(self) -> None:
        return None  # FallbackStore keeps the heartbeat and the recovery

    async def aclose(self) -> None:
        # Leave the replica set at once: the others' shares grow without waiting for the TTL.
        with contextlib.suppress(StoreError):
            await self._call("leave", lambda: self._client.execute(
                "ZREM", self.key("replicas"), self._replica))
        await self._client.aclose()
        await self._blobs.aclose()
