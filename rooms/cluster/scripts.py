"""The cluster's Lua scripts: every change to the waiting queues is one script,
so Redis runs it atomically and no two processes can seat the same ticket
twice, whatever the timing.  :mod:`rooms.cluster.queues` runs JOIN, LEAVE and
TICK, :mod:`rooms.cluster.presence` SWEEP, :mod:`rooms.cluster.bus` SEND.

Durable rooms: a room's host holds a lease, its node key, and the room's
``epoch``; every write to the room's log (APPEND) and its removal (DROP) is
conditional on both, so a host that lost its lease (paused, cut off) can no
longer write, seat or resurrect.  A room whose host is gone is an *orphan*
(SWEEP, RELEASE, or APPEND noticing its own node key gone); CLAIM gives it to
a live process with the epoch one higher (rooms.cluster.adopt replays it).

Matching follows :mod:`rooms.matching` (first come, first served per key; n per
group; rating bands that widen while a ticket waits, greedy fill from the oldest
ticket).  Times are Redis's own clock (``TIME``), so processes with skewed
clocks still agree on who came first; JOIN and TICK take the time as an
argument instead when ``RedisBackend(clock=...)`` is set (tests, simulations).

Keys, all under the prefix ``P`` (``ARGV[1]``)::

    P node:<id>     string, with a TTL: the node is alive while it exists
    P nodes         set of node ids that have registered
    P in:<id>       stream: the node's inbox (groups, queue changes, bridged traffic)
    P q:<queue>     sorted set: waiting ticket ids, scored by join time (seconds)
    P queues        set of queue names with waiting tickets
    P t:<ticket>    hash: node, q, at, r (rating), s (spread), d (JSON data); after a match a
                    ``room`` field (the room id) and a 60 s TTL (so a retried join
                    is refused, or told where the ticket went)
    P nt:<id>       set: waiting tickets owned by the node
    P room:<id>     hash: host, lobby, epoch, log ('1': durable) -- where a running
                    room lives; host '' while it is an orphan
    P nr:<id>       set: rooms hosted by the node
    P log:<room>    stream: the room's input log (field e: msgpack list of entries)
    P orphans       set: durable rooms whose host is gone, waiting for CLAIM
    P secret        the seat token secret shared by the cluster (unless configured)

The keys are built inside the scripts, so this works with one Redis server (or a
replicated primary), not with Redis Cluster.
"""

from __future__ import annotations

__all__ = ["COMMON", "JOIN", "LEAVE", "TICK", "SWEEP", "SEND", "APPEND", "CLAIM", "RELEASE", "DROP", "TAKEOVER", "INBOX_MAXLEN"]

INBOX_MAXLEN = 100_000  # a safety cap: readers trim their inbox as they read

COMMON = f"""
local P = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function notify(node, msg)
  if redis.call('EXISTS', P .. 'node:' .. node) == 1 then
    redis.call('XADD', P .. 'in:' .. node, 'MAXLEN', '~', {INBOX_MAXLEN}, '*', 'j', msg)
  end
end
-- Tell every node with a ticket in queue q, but skip (the caller tells its own players), that places moved.
local function notify_queue(q, skip)
  local msg = cjson.encode({{k = 'q', q = q}})
  local done = {{}}
  if skip then done[skip] = true end
  for _, tid in ipairs(redis.call('ZRANGE', P .. 'q:' .. q, 0, -1)) do
    local node = redis.call('HGET', P .. 't:' .. tid, 'node')
    if node and not done[node] then done[node] = true; notify(node, msg) end
  end
end
local function orphan(rid, old)
  redis.call('HSET', P .. 'room:' .. rid, 'host', '', 'old', old)
  redis.call('SADD', P .. 'orphans', rid)
end
-- 1 if node holds room rid at epoch (and its lease, the node key, is alive);
-- a room still ours whose lease lapsed becomes an orphan.
local function fenced(rid, node, epoch)
  local h = redis.call('HMGET', P .. 'room:' .. rid, 'host', 'epoch')
  if h[1] ~= node or h[2] ~= epoch then return 0 end
  if redis.call('EXISTS', P .. 'node:' .. node) == 0 then orphan(rid, node); return 0 end
  return 1
end
-- Everything a dead node held: its tickets leave their queues, its durable
-- rooms become orphans, its other rooms, its sets and its inbox go.
local function bury(node)
  local queues = {{}}
  for _, tid in ipairs(redis.call('SMEMBERS', P .. 'nt:' .. node)) do
    local q = redis.call('HGET', P .. 't:' .. tid, 'q')
    if q then redis.call('ZREM', P .. 'q:' .. q, tid); queues[q] = true end
    redis.call('DEL', P .. 't:' .. tid)
  end
  for _, rid in ipairs(redis.call('SMEMBERS', P .. 'nr:' .. node)) do
    local h = redis.call('HMGET', P .. 'room:' .. rid, 'host', 'log')
    if h[1] == node then
      if h[2] == '1' then orphan(rid, node) else redis.call('DEL', P .. 'room:' .. rid) end
    end
  end
  redis.call('DEL', P .. 'nt:' .. node, P .. 'nr:' .. node, P .. 'in:' .. node)
  redis.call('SREM', P .. 'nodes', node)
  for q, _ in pairs(queues) do
    if redis.call('EXISTS', P .. 'q:' .. q) == 0 then redis.call('SREM', P .. 'queues', q) end
    notify_queue(q)
  end
end
local function bands_from(i)
  if ARGV[i] == '' then return nil end
  return {{tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}}
end
local function band_at(b, waited)
  local w = b[1] + b[2] * math.max(0, waited)
  if b[3] then return math.min(w, b[3]) end
  return w
end
local function find_group(ids, n, bands, t)
  if not bands then
    local g = {{}}
    for i = 1, n do g[i] = ids[i] end
    return g
  end
  local info = {{}}
  for i, tid in ipairs(ids) do
    local h = redis.call('HMGET', P .. 't:' .. tid, 'at', 'r', 's')
    info[i] = {{tonumber(h[1]) or t, tonumber(h[2]) or 0, tonumber(h[3]) or 0}}
  end
  local function compatible(a, b)
    local limit = math.min(band_at(bands, t - info[a][1]), band_at(bands, t - info[b][1])) + math.max(info[a][3], info[b][3])
    return math.abs(info[a][2] - info[b][2]) <= limit
  end
  for i = 1, #ids do
    if #ids - i + 1 < n then return nil end
    local g = {{i}}
    for j = i + 1, #ids do
      local ok = true
      for _, m in ipairs(g) do
        if not compatible(m, j) then ok = false; break end
      end
      if ok then
        g[#g + 1] = j
        if #g == n then
          local out = {{}}
          for k, x in ipairs(g) do out[k] = ids[x] end
          return out
        end
      end
    end
  end
  return nil
end
-- Seat every complete group of queue q at time t (bands widen with t); the
-- host of a group is the node of the ticket that completed it (completing), or
-- else the caller if it owns one of its tickets, or else the node of its first ticket.
local function match(q, n, bands, lobby, completing, durable, caller, t)
  local qk = P .. 'q:' .. q
  local formed = 0
  while true do
    local ids = redis.call('ZRANGE', qk, 0, -1)
    if #ids < n then break end
    local g = find_group(ids, n, bands, t)
    if not g then break end
    -- A ticket whose node key expired (paused or cut off, not swept yet) is
    -- never seated: bury its node as SWEEP would, then look again.
    local dead = nil
    for _, tid in ipairs(g) do
      local owner = redis.call('HGET', P .. 't:' .. tid, 'node')
      if owner and redis.call('EXISTS', P .. 'node:' .. owner) == 0 then
        dead = owner
        redis.call('ZREM', qk, tid)
        redis.call('DEL', P .. 't:' .. tid)
        break
      end
    end
    if dead then
      bury(dead)
    else
      local host = nil
      local seats = {{}}
      for i, tid in ipairs(g) do
        local tk = P .. 't:' .. tid
        local h = redis.call('HMGET', tk, 'node', 'd')
        seats[i] = {{tid, h[1] or '', h[2] or '{{}}'}}
        if tid == completing then host = h[1] end
        if caller and h[1] == caller and not completing then host = caller end
        redis.call('ZREM', qk, tid)
        if h[1] then redis.call('SREM', P .. 'nt:' .. h[1], tid) end
        seats[i][4] = tk
      end
      host = host or seats[1][2]
      local rid = string.sub(redis.sha1hex(table.concat(g, ',')), 1, 12)
      for _, s in ipairs(seats) do
        redis.call('HSET', s[4], 'room', rid)
        redis.call('PEXPIRE', s[4], 60000)
        s[4] = nil
      end
      redis.call('HSET', P .. 'room:' .. rid, 'host', host, 'lobby', lobby, 'epoch', '1', 'log', durable or '')
      redis.call('SADD', P .. 'nr:' .. host, rid)
      local msg = cjson.encode({{k = 'g', room = rid, host = host, lobby = lobby, q = q, seats = seats}})
      local sent = {{[host] = true}}
      notify(host, msg)
      for _, s in ipairs(seats) do
        if not sent[s[2]] then sent[s[2]] = true; notify(s[2], msg) end
      end
      formed = formed + 1
    end
  end
  if redis.call('EXISTS', qk) == 0 then redis.call('SREM', P .. 'queues', q) end
  return formed
end
"""

# ARGV: P, queue, ticket, node, at ('' = now), rating, data, n, lobby, band, widen, max_band,
# spread, durable, now ('' or absent = Redis's TIME: the time the match runs at, and at's default)
# -> {status, at}: status 1 queued, 0 already queued, 2 matched already (then the
# room id instead of at), -1 node not registered
JOIN = (
    COMMON
    + """
local q, tid, node = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', P .. 'node:' .. node) == 0 then return {-1, ''} end
local tk = P .. 't:' .. tid
if redis.call('EXISTS', tk) == 1 then
  local h = redis.call('HMGET', tk, 'at', 'room')
  if h[2] then return {2, h[2]} end
  return {0, h[1] or ''}
end
local t = tonumber(ARGV[15]) or now()
local at = string.format('%.6f', tonumber(ARGV[5]) or t)
redis.call('HSET', tk, 'node', node, 'q', q, 'at', at, 'r', ARGV[6], 's', ARGV[13] or '0', 'd', ARGV[7])
redis.call('ZADD', P .. 'q:' .. q, at, tid)
redis.call('SADD', P .. 'nt:' .. node, tid)
redis.call('SADD', P .. 'queues', q)
match(q, tonumber(ARGV[8]), bands_from(10), ARGV[9], tid, ARGV[14], nil, t)
notify_queue(q, node)  -- (rooms.cluster.queues marks the queue for its own announcer)
return {1, at}
"""
)

# ARGV: P, ticket -> 1 if it was waiting and is gone now, 0 if unknown or already matched
LEAVE = (
    COMMON
    + """
local tid = ARGV[2]
local tk = P .. 't:' .. tid
local h = redis.call('HMGET', tk, 'q', 'node', 'room')
if not h[1] or h[3] then return 0 end
redis.call('ZREM', P .. 'q:' .. h[1], tid)
redis.call('SREM', P .. 'nt:' .. h[2], tid)
redis.call('DEL', tk)
if redis.call('EXISTS', P .. 'q:' .. h[1]) == 0 then redis.call('SREM', P .. 'queues', h[1]) end
notify_queue(h[1])
return 1
"""
)

# ARGV: P, queue, n, lobby, band, widen, max_band, durable, caller node, now ('' or
# absent = Redis's TIME) -> groups formed (bands widen with time)
TICK = (
    COMMON
    + """
local formed = match(ARGV[2], tonumber(ARGV[3]), bands_from(5), ARGV[4], nil, ARGV[8], ARGV[9], tonumber(ARGV[10]) or now())
if formed > 0 then notify_queue(ARGV[2]) end
return formed
"""
)

# ARGV: P -> the dead nodes swept: their waiting tickets, room records and inbox go;
# their durable rooms become orphans (CLAIM gives them to a live node).
SWEEP = (
    COMMON
    + """
local dead = {}
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  if redis.call('EXISTS', P .. 'node:' .. node) == 0 then
    dead[#dead + 1] = node
    bury(node)
  end
end
return dead
"""
)

# ARGV: P, node -> a new run of node id *node* found the key of a previous run
# (killed, never swept): what that run held is buried as a dead node's.
TAKEOVER = (
    COMMON
    + """
bury(ARGV[2])
redis.call('SADD', P .. 'nodes', ARGV[2])
return 1
"""
)

# ARGV: P, destination node, message... -> 1 sent, 0 the node is gone (nothing written,
# so a dead node's inbox is never re-created after the sweep deleted it)
SEND = f"""
local P = ARGV[1]
if redis.call('EXISTS', P .. 'node:' .. ARGV[2]) == 0 then return 0 end
local k = P .. 'in:' .. ARGV[2]
for i = 3, #ARGV do redis.call('XADD', k, 'MAXLEN', '~', {INBOX_MAXLEN}, '*', 'm', ARGV[i]) end
return 1
"""

# ARGV: P, room, node, epoch, entry... -> 1 appended, 0 fenced off (not our lease)
APPEND = (
    COMMON
    + """
if fenced(ARGV[2], ARGV[3], ARGV[4]) == 0 then return 0 end
local k = P .. 'log:' .. ARGV[2]
for i = 5, #ARGV do redis.call('XADD', k, '*', 'e', ARGV[i]) end
return 1
"""
)

# ARGV: P, node, max -> {room, epoch, lobby, old host}... claimed by node (epoch + 1)
CLAIM = (
    COMMON
    + """
local node = ARGV[2]
if redis.call('EXISTS', P .. 'node:' .. node) == 0 then return {} end
local out = {}
for _, rid in ipairs(redis.call('SRANDMEMBER', P .. 'orphans', tonumber(ARGV[3]))) do
  local rk = P .. 'room:' .. rid
  local h = redis.call('HMGET', rk, 'host', 'epoch', 'lobby', 'old')
  redis.call('SREM', P .. 'orphans', rid)
  if h[2] and (h[1] == '' or redis.call('EXISTS', P .. 'node:' .. h[1]) == 0) then
    local epoch = tostring(tonumber(h[2]) + 1)
    local old = h[1] ~= '' and h[1] or (h[4] or '')
    redis.call('HSET', rk, 'host', node, 'epoch', epoch, 'old', old)
    redis.call('SADD', P .. 'nr:' .. node, rid)
    out[#out + 1] = {rid, epoch, h[3] or '', old}
  end
end
return out
"""
)

# ARGV: P, room, node, epoch -> 1 the room is an orphan now (handed over), 0 not ours
RELEASE = (
    COMMON
    + """
local h = redis.call('HMGET', P .. 'room:' .. ARGV[2], 'host', 'epoch')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('SREM', P .. 'nr:' .. ARGV[3], ARGV[2])
orphan(ARGV[2], ARGV[3])
return 1
"""
)

# ARGV: P, room, node, epoch -> 1 the room ended and is forgotten, 0 not ours
DROP = (
    COMMON
    + """
redis.call('SREM', P .. 'nr:' .. ARGV[3], ARGV[2])
local h = redis.call('HMGET', P .. 'room:' .. ARGV[2], 'host', 'epoch')
if h[1] ~= ARGV[3] or h[2] ~= ARGV[4] then return 0 end
redis.call('DEL', P .. 'room:' .. ARGV[2], P .. 'log:' .. ARGV[2])
return 1
"""
)
