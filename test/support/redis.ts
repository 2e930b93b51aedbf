/** The tests' real redis-server: the starter lives under bench/ because `plume bench` uses it at run time too. */
export { eventually, startRedis, type RedisOptions, type RedisServer } from '../../bench/support/redis.ts';
