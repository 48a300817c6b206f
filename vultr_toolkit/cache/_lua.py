"""The cache's Lua scripts, one text each, registered by both the sync and the async redis store.

Each script says its KEYS/ARGV contract above it. They run atomically on the server, which is what makes a
hit-or-lock one round trip, a tagged write consistent with the tag versions, and a take (``mget_and_delete``,
claim-then-ack) give each value to exactly one caller. Scripts that read tag versions share :data:`_LUA_FRESH`.

>>> from vultr_toolkit.cache._lua import _LUA_GET_OR_LOCK
>>> _LUA_GET_OR_LOCK.count("redis.call('SET', KEYS[2]")  # the lock is taken in the same trip as the read
1
"""

from __future__ import annotations

# fresh(v, prefix): is the entry's tag header still current? Header = JSON ["tag", "ver", ...] before the first \n;
# an empty header (untagged) is always fresh. A header that isn't ours is left for Python to reject.
_LUA_FRESH = """
local function fresh(v, prefix)
  local nl = string.find(v, '\\n', 1, true)
  if nl == nil or nl == 1 then return true end
  local ok, tv = pcall(cjson.decode, string.sub(v, 1, nl - 1))
  if not ok or type(tv) ~= 'table' then return true end
  for i = 1, #tv, 2 do
    if redis.call('GET', prefix .. tostring(tv[i])) ~= tv[i + 1] then return false end
  end
  return true
end
"""
# KEYS: value, lock. ARGV: tagv prefix, token, lock ms ('0' = read only). -> {1, value} | {2} locked | {0} busy
# Idempotent per token: a retried call (its first reply lost) finds its own lock and still reports "locked".
_LUA_GET_OR_LOCK = _LUA_FRESH + """
local v = redis.call('GET', KEYS[1])
if v and fresh(v, ARGV[1]) then return {1, v} end
if ARGV[3] ~= '0' then
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return {2} end
  if redis.call('GET', KEYS[2]) == ARGV[2] then return {2} end
end
return {0}
"""
# KEYS: value. ARGV: tagv prefix, ttl ms ('0' = none), body, tags... Versions start at the server clock (µs).
_LUA_SET_TAGGED = """
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', tonumber(t[2]))
local hdr = {}
for i = 4, #ARGV do
  local vk = ARGV[1] .. ARGV[i]
  redis.call('SET', vk, now, 'NX')
  hdr[#hdr + 1] = ARGV[i]
  hdr[#hdr + 1] = redis.call('GET', vk)
end
local v = cjson.encode(hdr) .. '\\n' .. ARGV[3]
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], v, 'PX', ARGV[2]) else redis.call('SET', KEYS[1], v) end
return 1
"""
_LUA_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: values. ARGV: tagv prefix. Atomic: nobody else can take a value between our GET and UNLINK.
_LUA_MGET_AND_DELETE = _LUA_FRESH + """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then v = false end
  out[i] = v
  redis.call('UNLINK', k)
end
return out
"""
# Claim-then-ack (safe take). KEYS: claim hash, claims zset, values... ARGV: tagv prefix, claim id, ttl ms.
# Moves each fresh value (and its PTTL) into the claim hash and deletes its key; the claim's deadline goes in the
# zset. Idempotent per claim id: a replay after a lost reply returns what the first run claimed, claims nothing new.
_LUA_CLAIM = _LUA_FRESH + """
local out = {}
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 3, #KEYS do out[i - 2] = redis.call('HGET', KEYS[1], 'v:' .. KEYS[i]) end
  return out
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], '~', '1')
for i = 3, #KEYS do
  local k = KEYS[i]
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then v = false end
  if v then redis.call('HSET', KEYS[1], 'v:' .. k, v, 't:' .. k, redis.call('PTTL', k)) end
  redis.call('UNLINK', k)
  out[i - 2] = v
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
return out
"""
# KEYS: claim hash, claims zset. ARGV: claim id. Idempotent: a replayed ack deletes nothing and still succeeds.
_LUA_ACK = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""
# KEYS: claims zset. ARGV: claim key prefix, max claims. Puts expired claims' values back (SET NX: a key written
# since the claim keeps its newer value) with their remaining TTL, then drops the claims. -> values restored.
_LUA_RESTORE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, id in ipairs(ids) do
  local ck = ARGV[1] .. id
  local h = redis.call('HGETALL', ck)
  for j = 1, #h, 2 do
    local f = h[j]
    if string.sub(f, 1, 2) == 'v:' then
      local k = string.sub(f, 3)
      local ttl = tonumber(redis.call('HGET', ck, 't:' .. k) or '-1')
      local ok
      if ttl > 0 then ok = redis.call('SET', k, h[j + 1], 'NX', 'PX', ttl)
      else ok = redis.call('SET', k, h[j + 1], 'NX') end
      if ok then n = n + 1 end
    end
  end
  redis.call('DEL', ck)
  redis.call('ZREM', KEYS[1], id)
end
return n
"""
# KEYS: candidate value keys. ARGV: tagv prefix. Deletes entries whose tag versions are stale.
_LUA_RECLAIM = _LUA_FRESH + """
local n = 0
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and not fresh(v, ARGV[1]) then redis.call('UNLINK', k); n = n + 1 end
end
return n
"""
