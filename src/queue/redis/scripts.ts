// The Lua scripts of the Redis transport: each runs atomically in Redis.
import { luaScript } from './link.js';

/**
 * Enqueue jobs with backpressure, all or nothing. KEYS[1] job stream; ARGV[1] bound (jobs
 * waiting, i.e. not yet taken by a worker), ARGV[2] group, ARGV[3] number of jobs N, then
 * per job its field count and its fields. Creates the stream and its consumer group when
 * missing (first use, or a Redis that restarted empty). Returns {1, entryId…} when all N
 * fit (waiting + N <= bound), or {0, waiting} having added none. All or nothing under
 * maxmemory too: Redis refuses a script with OOM only before its first write. No MAXLEN:
 * trimming would silently drop jobs.
 */
export const ENQUEUE = luaScript(`
local stream, group = KEYS[1], ARGV[2]
if redis.call('EXISTS', stream) == 0 then
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end
local ok, summary = pcall(redis.call, 'XPENDING', stream, group)
if not ok then
  redis.call('XGROUP', 'CREATE', stream, group, '0')
  summary = {0}
end
local waiting = redis.call('XLEN', stream) - summary[1]
if waiting < 0 then waiting = 0 end
local n = tonumber(ARGV[3])
if waiting + n > tonumber(ARGV[1]) then return {0, waiting} end
local ids, at = {1}, 4
for i = 1, n do
  local count = tonumber(ARGV[at])
  ids[i + 1] = redis.call('XADD', stream, '*', unpack(ARGV, at + 1, at + count))
  at = at + count + 1
end
return ids
`);

/** Jobs waiting in a stream (not yet taken). KEYS[1] job stream; ARGV[1] group. */
export const DEPTH = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
local pending = 0
if ok then pending = summary[1] end
local waiting = redis.call('XLEN', KEYS[1]) - pending
if waiting < 0 then return 0 end
return waiting
`);

/**
 * Answer a job once (`allow-oom`, Redis ≥ 7: answering frees the job's body, far larger than
 * the reply, so the work in flight is answered even when Redis is at maxmemory). KEYS[1] job stream, KEYS[2] reply stream; ARGV[1] group, ARGV[2]
 * entry id, ARGV[3] reply-stream TTL (ms), ARGV[4..] the reply's fields. Only the
 * completion that acknowledges the entry replies, so a job computed twice (taken over
 * from a worker presumed dead) is answered once. An empty KEYS[2] (a message without a
 * reply address) is only acknowledged. Returns 1, or 0 for a duplicate.
 */
export const COMPLETE = luaScript(`#!lua flags=allow-oom
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
if KEYS[2] ~= '' then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
`);

/**
 * Move a job that was delivered too often to the dead-letter stream and answer it
 * (`allow-oom`, as COMPLETE: it drops the job's body).
 * KEYS[1] job stream, KEYS[2] reply stream, KEYS[3] dead-letter stream; ARGV[1] group,
 * ARGV[2] entry id, ARGV[3] reply TTL, ARGV[4] deliveries, ARGV[5] worker id,
 * ARGV[6..] the reply's fields. The dead-letter entry keeps the job's fields except its body.
 */
export const DEAD_LETTER = luaScript(`#!lua flags=allow-oom
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local fields = {'stream', KEYS[1], 'entry', ARGV[2], 'deliveries', ARGV[4], 'lastWorker', ARGV[5]}
if entry[1] then
  local f = entry[1][2]
  for i = 1, #f, 2 do
    if f[i] ~= 'body' then table.insert(fields, 'job.' .. f[i]); table.insert(fields, f[i + 1]) end
  end
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', unpack(fields))
if KEYS[2] ~= '' then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 6))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
`);

/**
 * Take over jobs idle longer than the reclaim time (their worker is presumed dead), and
 * forget consumers idle longer than ARGV[5] ms that hold no job.
 * KEYS[1] job stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms, ARGV[4] count,
 * ARGV[5] consumer idle limit, ARGV[6] scan cursor (0-0 to start over).
 * Returns {next cursor, {{id, deliveries, fields}, …}}; entries deleted meanwhile are dropped by XAUTOCLAIM.
 */
export const RECLAIM = luaScript(`
local ok, res = pcall(redis.call, 'XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[6], 'COUNT', ARGV[4])
if not ok then return {'0-0', {}} end
-- Consumers of workers that are gone would stay in the group forever: drop those that
-- hold nothing and have been idle long (a live one is recreated by its next read).
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if name ~= ARGV[2] and pending == 0 and idle > tonumber(ARGV[5]) then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name) end
end
local out = {}
for _, e in ipairs(res[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    local n = 1
    if p[1] then n = p[1][4] end
    table.insert(out, {e[1], n, e[2]})
  end
end
return {res[1], out}
`);

/**
 * Keep a live worker's jobs from being reclaimed: reset the idle time of the listed
 * entries that this consumer still owns (JUSTID: the delivery count does not grow).
 * KEYS[1] job stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
 */
export const HOLD = luaScript(`
local held = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    held = held + 1
  end
end
return held
`);

/**
 * Cancel a job: drop it if no worker has taken it yet (a taken one stays in the pending
 * list until its worker answers it, so the counts of waiting jobs stay right), and tell
 * the workers. KEYS[1] job stream; ARGV[1] entry id (or ''), ARGV[2] channel, ARGV[3]
 * job id, ARGV[4] group.
 */
export const CANCEL = luaScript(`
if ARGV[1] ~= '' then
  local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[4], ARGV[1], ARGV[1], 1)
  if not ok or not p[1] then redis.call('XDEL', KEYS[1], ARGV[1]) end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`);

/**
 * Lua shared by the scripts that write stats: `append_stats` adds a sample to its source's
 * capped stream and the index, unless Redis is within 10 % of its maxmemory. Then it adds
 * nothing and trims the source's stream to its last 60 samples instead: stats give room
 * back to jobs and heartbeats rather than take it (the scripts run with allow-oom, so the
 * heartbeat and the trim still work at the limit).
 */
const STATS_ROOM = `
local function stats_room()
  local info = redis.call('INFO', 'memory')
  local max = tonumber(string.match(info, 'maxmemory:(%d+)'))
  if max == nil or max == 0 then return true end
  return tonumber(string.match(info, 'used_memory:(%d+)')) < max * 0.9
end
local function append_stats(stream, index, source, history, sample, now)
  if not stats_room() then
    redis.call('XTRIM', stream, 'MAXLEN', 60)
    return 0
  end
  redis.call('XADD', stream, 'MAXLEN', '~', history, '*', 's', sample)
  redis.call('PEXPIRE', stream, history * 1000)
  redis.call('ZADD', index, now, source)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now - history * 1000)
  redis.call('PEXPIRE', index, history * 1000)
  return 1
end`;

/**
 * Worker heartbeat, and with it the worker's stats sample (one publisher: the dashboard
 * and the autoscaler read the same figures). KEYS[1] worker hash, KEYS[2] workers sorted
 * set, KEYS[3] its stats stream, KEYS[4] the stats index; ARGV[1] id, ARGV[2] expiry ms,
 * ARGV[3] stats history (0: no sample), ARGV[4] the sample (JSON), ARGV[5..] fields. Stamped with Redis's own time, so the hosts'
 * clocks need not agree; everything expires when its workers are gone. `allow-oom` (Redis
 * ≥ 7): a Redis at maxmemory refuses new jobs (QUEUE_FULL) but must not drop live workers
 * from the registry, or every gateway would report itself not ready.
 */
export const HEARTBEAT = luaScript(`#!lua flags=allow-oom
${STATS_ROOM}
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'lastSeen', now, unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if tonumber(ARGV[3]) > 0 then append_stats(KEYS[3], KEYS[4], 'worker:' .. ARGV[1], tonumber(ARGV[3]), ARGV[4], now) end
return now
`);

/**
 * One stats sample of a gateway or an autoscaler (a worker's goes with its heartbeat).
 * KEYS[1] the source's stats stream, KEYS[2] the stats index; ARGV[1] source, ARGV[2]
 * history (samples kept, one a second), ARGV[3] the sample (JSON). Returns 1, or 0 when
 * Redis had no room for stats (nothing added; the source's stream trimmed).
 */
export const STATS_PUBLISH = luaScript(`#!lua flags=allow-oom
${STATS_ROOM}
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return append_stats(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], now)
`);

/**
 * The stats samples stamped after a time. KEYS[1] the stats index; ARGV[1] since (ms, Redis
 * clock), ARGV[2] at most this many per source (the newest), ARGV[3] the stats stream
 * prefix. Returns {now, {source, entries newest first}…} for each source that published
 * after `since`.
 */
export const STATS_READ = luaScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local since = tonumber(ARGV[1])
local out = {now}
for _, source in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. since, '+inf')) do
  local entries = redis.call('XREVRANGE', ARGV[3] .. source, '+', since + 1, 'COUNT', ARGV[2])
  if #entries > 0 then table.insert(out, {source, entries}) end
end
return out
`);

/** Live workers: KEYS[1] workers sorted set; ARGV[1] expiry ms, ARGV[2] worker-hash prefix. Returns {{id, fields}, …}. */
export const LIVE_WORKERS = luaScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
local out = {}
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', ARGV[2] .. id)
  if #h > 0 then table.insert(out, {id, h}) end
end
return out
`);

/**
 * What an autoscaler reads of one job stream, in one round trip and in Redis's own clock.
 * KEYS[1] job stream; ARGV[1] group. Returns {now (ms), entries ever added, length (waiting +
 * taken: answered entries are deleted), taken and not yet answered (the group's pending),
 * the time (ms) in the id of the oldest entry not yet taken, or -1}.
 */
export const QUEUE_SIGNALS = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 0 then return {now, 0, 0, 0, -1} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, length = 0, 0
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1] elseif info[i] == 'length' then length = info[i + 1] end
end
local pending, last = 0, '0-0'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    local name, p, l
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'pending' then p = g[i + 1] elseif g[i] == 'last-delivered-id' then l = g[i + 1] end
    end
    if name == ARGV[1] then pending = p; last = l end
  end
end
local first = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)
local oldest = -1
if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
return {now, added, length, pending, oldest}
`);

/**
 * Take or keep a lease (one acting controller among several): KEYS[1] lease key; ARGV[1]
 * holder id, ARGV[2] time to live (ms). Set when free or already ours (then renewed);
 * returns 1 when held by ARGV[1] afterwards, else 0. Expiry is Redis's, so a holder that
 * stops renewing (dead, cut off) loses it within the time to live.
 */
export const LEASE_TAKE = luaScript(`
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`);

/** Give a lease back, only if ARGV[1] still holds it (never another holder's). Returns 1 if released. */
export const LEASE_RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);
