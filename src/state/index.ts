/** The state layer: the global tier (memory or Redis, chosen by configuration) and the local tier in front of it. */
import type { StateBackend } from './backend.ts';
import { MemoryBackend } from './memory-backend.ts';
import { RedisBackend } from './redis-backend.ts';

export type { AcquireOptions, CompareAndSetResult, LockLease, StateBackend, StateKey, VersionedValue } from './backend.ts';
export { DEFAULT_MAX_VALUE_BYTES } from './backend.ts';
export { MemoryBackend, type MemoryBackendOptions } from './memory-backend.ts';
export { RedisBackend, failFastRedisOptions, type RedisBackendOptions } from './redis-backend.ts';
export { LocalTier, DEFAULT_CHUNK_BYTES, type LocalTierOptions } from './local-tier.ts';

export interface StateConfig {
  /** The global tier's Redis; in process memory when absent (one node only). */
  redisUrl?: string;
  maxValueBytes?: number;
}

/** The global tier a node is configured with: Redis when a URL is given (`plume up --redis URL`), else memory. */
export function createStateBackend(config: StateConfig = {}): StateBackend {
  const limits = config.maxValueBytes === undefined ? {} : { maxValueBytes: config.maxValueBytes };
  return config.redisUrl === undefined ? new MemoryBackend(limits) : new RedisBackend({ url: config.redisUrl, ...limits });
}
