/**
 * The Lua scripts of the durable async queue (async-queue-redis.ts). Redis runs a script alone, start to
 * finish, so accepting a call (stream entry + pending record + backlog check) and storing a result (bytes
 * accounting + eviction + the record) are each one atomic step. Numbers reach Redis as arguments computed
 * in JavaScript, never through Lua's `..`, which prints large numbers in exponent form.
 */

/**
 * KEYS: stream, result, backlog bytes. ARGV: maxBacklog, id, function, input, callback, acceptedAt,
 * pendingTtlMs, maxBacklogBytes. Returns 1, or 0 when the backlog is full (by entries or by input bytes).
 */
const accept = `
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
if tonumber(redis.call('GET', KEYS[3]) or '0') + #ARGV[4] > tonumber(ARGV[8]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'id', ARGV[2], 'fn', ARGV[3], 'input', ARGV[4], 'cb', ARGV[5], 'at', ARGV[6])
redis.call('INCRBY', KEYS[3], #ARGV[4])
redis.call('HSET', KEYS[2], 'function', ARGV[3], 'state', 'pending', 'status', '202', 'runs', '0', 'acceptedAt', ARGV[6], 'callback', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 1`;

/**
 * KEYS: result. ARGV: node, function, acceptedAt, pendingTtlMs. A node starts the call: returns its run
 * count, or -1 when it already finished (its result is stored and must not be computed again).
 */
const begin = `
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'done' or st == 'failed' then return -1 end
if not st then redis.call('HSET', KEYS[1], 'function', ARGV[2], 'acceptedAt', ARGV[3]) end
local runs = redis.call('HINCRBY', KEYS[1], 'runs', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'node', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return runs`;

/**
 * KEYS: result, index (zset id → expiry), sizes (hash id → bytes), total (bytes kept).
 * ARGV: id, state, status, output, error, node, now, ttlMs, maxTotalBytes, result key prefix, bytes,
 * maxResults, function, expiresAt. Forgets expired results, evicts the oldest until this one fits (by
 * bytes and by count), then stores it. The first outcome stored wins: returns -1 if one was. Else the
 * number of results evicted.
 */
const finish = `
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'done' or st == 'failed' then return -1 end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[7], 'LIMIT', 0, 1000)
for _, g in ipairs(gone) do
  redis.call('DECRBY', KEYS[4], redis.call('HGET', KEYS[3], g) or '0')
  redis.call('HDEL', KEYS[3], g)
  redis.call('ZREM', KEYS[2], g)
end
local size = tonumber(ARGV[11])
local total = tonumber(redis.call('GET', KEYS[4]) or '0')
local evicted = 0
while total + size > tonumber(ARGV[9]) or redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[12]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  local s = redis.call('HGET', KEYS[3], oldest) or '0'
  redis.call('DEL', ARGV[10] .. oldest)
  redis.call('HDEL', KEYS[3], oldest)
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('DECRBY', KEYS[4], s)
  total = total - tonumber(s)
  evicted = evicted + 1
end
if not st then redis.call('HSET', KEYS[1], 'function', ARGV[13], 'runs', '1') end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'status', ARGV[3], 'output', ARGV[4], 'error', ARGV[5], 'node', ARGV[6], 'finishedAt', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[14], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[11])
redis.call('INCRBY', KEYS[4], ARGV[11])
return evicted`;

/**
 * KEYS: stream. ARGV: group, node, entry ids. Resets the idle time of each entry this node still owns
 * (XCLAIM JUSTID neither moves the entry nor counts a delivery); one another node took over is left
 * alone. Returns how many were no longer this node's.
 */
const renew = `
local lost = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost = lost + 1
  end
end
return lost`;

/**
 * KEYS: stream, backlog bytes. ARGV: group, entry id, input bytes. XACK and XDEL the entry; its input
 * leaves the backlog's bytes only if this call deleted it (two nodes settling one entry count it once).
 */
const settle = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('XDEL', KEYS[1], ARGV[2]) == 1 then redis.call('DECRBY', KEYS[2], ARGV[3]) end
return 1`;

export const ASYNC_SCRIPTS = {
  plumeAsyncAccept: { numberOfKeys: 3, lua: accept },
  plumeAsyncSettle: { numberOfKeys: 2, lua: settle },
  plumeAsyncBegin: { numberOfKeys: 1, lua: begin },
  plumeAsyncFinish: { numberOfKeys: 4, lua: finish },
  plumeAsyncRenew: { numberOfKeys: 1, lua: renew },
} as const;

type Arg = string | number | Buffer;

/** The commands `defineCommand` adds to a client; ioredis cannot type them itself. */
export interface AsyncScriptCommands {
  plumeAsyncAccept(stream: string, result: string, backlogBytes: string, ...args: Arg[]): Promise<number>;
  plumeAsyncSettle(stream: string, backlogBytes: string, group: string, entryId: string, inputBytes: number): Promise<number>;
  plumeAsyncBegin(result: string, ...args: Arg[]): Promise<number>;
  plumeAsyncFinish(result: string, index: string, sizes: string, total: string, ...args: Arg[]): Promise<number>;
  plumeAsyncRenew(stream: string, group: string, node: string, ...ids: string[]): Promise<number>;
}
