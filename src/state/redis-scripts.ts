/**
 * The Lua scripts that make the Redis backend's multi-key operations atomic. Redis runs a script alone,
 * start to finish, so each script is one linearizable step. A value lives in two keys (data `v:` and
 * version `n:`) because SETRANGE works only on a plain string; `clock` numbers every version and fencing
 * token. Numbers reach Redis as command arguments, never through Lua's `..`, which prints 1e15 as "1e+15".
 */

/** KEYS: data, version, clock. ARGV: value. Returns the new version. */
const set = `
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], version)
return version`;

/** KEYS: data, version, clock. ARGV: offset, bytes. Returns the new version. */
const setRange = `
local offset = tonumber(ARGV[1])
if #ARGV[2] > 0 then
  redis.call('SETRANGE', KEYS[1], offset, ARGV[2])
elseif redis.call('STRLEN', KEYS[1]) < offset then
  -- SETRANGE ignores an empty string; the contract still makes the value at least offset bytes long.
  redis.call('SETRANGE', KEYS[1], offset - 1, '\\0')
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], '')
end
local version = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], version)
return version`;

/** KEYS: data, version, clock. ARGV: expected version (0: must not exist), value. Returns {ok, version}. */
const compareAndSet = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
redis.call('SET', KEYS[1], ARGV[2])
local version = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], version)
return {1, version}`;

/** KEYS: data, version. ARGV: offset, length. Returns the bytes, or nil when the key does not exist. */
const getRange = `
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
local offset = tonumber(ARGV[1])
local length = tonumber(ARGV[2])
-- GETRANGE k 0 -1 means "to the end", so an empty range must not reach it.
if length == 0 then return '' end
return redis.call('GETRANGE', KEYS[1], offset, offset + length - 1)`;

/** KEYS: lock, clock. ARGV: leaseMs, owner. Returns {1, token}, or {0, holder, remaining ms}. */
const tryLock = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'owner'), redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', token, 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {1, token}`;

/** KEYS: lock. ARGV: token, release channel, key bytes. Returns 1 if this lease held the lock. */
const unlock = `
if tonumber(redis.call('HGET', KEYS[1], 'token')) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`;

export const SCRIPTS = {
  plumeSet: { numberOfKeys: 3, lua: set },
  plumeSetRange: { numberOfKeys: 3, lua: setRange },
  plumeCompareAndSet: { numberOfKeys: 3, lua: compareAndSet },
  plumeGetRange: { numberOfKeys: 2, lua: getRange },
  plumeTryLock: { numberOfKeys: 2, lua: tryLock },
  plumeUnlock: { numberOfKeys: 1, lua: unlock },
} as const;

type Arg = string | number | Buffer;

/** The commands `defineCommand` adds to a client; ioredis cannot type them itself. */
export interface ScriptCommands {
  plumeSet(data: Buffer, version: Buffer, clock: Buffer, value: Buffer): Promise<number>;
  plumeSetRange(data: Buffer, version: Buffer, clock: Buffer, offset: number, bytes: Buffer): Promise<number>;
  plumeCompareAndSet(data: Buffer, version: Buffer, clock: Buffer, expected: number, value: Buffer): Promise<[number, number]>;
  plumeGetRangeBuffer(data: Buffer, version: Buffer, offset: number, length: number): Promise<Buffer | null>;
  plumeTryLock(lock: Buffer, clock: Buffer, leaseMs: number, owner: string): Promise<[1, number] | [0, string, number]>;
  plumeUnlock(lock: Buffer, token: number, channel: Arg, key: Buffer): Promise<number>;
}
