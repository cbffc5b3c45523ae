import { Redis, type RedisOptions } from 'ioredis';

export type { Redis } from 'ioredis';

/**
 * Two kinds of connection:
 * - `request`: used on the request path (rate limits, idempotency, caches). Commands fail fast
 *   when Redis is down instead of queueing, so callers can choose fail-open or fail-closed.
 * - `queue`: for BullMQ, which requires `maxRetriesPerRequest: null` and waits for Redis.
 */
export function createRedis(url: string, kind: 'request' | 'queue' = 'request', extra: RedisOptions = {}): Redis {
  const base: RedisOptions =
    kind === 'queue'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 2_000, commandTimeout: 2_000 };
  return new Redis(url, {
    ...base,
    // Reconnect forever with a capped delay: Redis coming back must heal every service.
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...extra,
  });
}

export async function pingRedis(redis: Redis): Promise<void> {
  const reply = await redis.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply: ${reply}`);
}

/** Delete every key under a prefix (tests and cleanup), in SCAN batches. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
