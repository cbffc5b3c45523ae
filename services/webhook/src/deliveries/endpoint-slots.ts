import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// Expired leases (a worker that died mid-attempt) free themselves; Redis' clock is the only clock.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
`;

export interface Slot {
  release(): Promise<void>;
}

/**
 * A counting semaphore per endpoint in Redis: at most `limit` attempts in flight to one
 * endpoint across every worker, so a slow or hanging endpoint holds a few worker slots and
 * never all of them. Each holder's lease expires by itself after `leaseMs`.
 *
 * Jobs that find their endpoint saturated park in a per-endpoint FIFO list (and sleep in
 * BullMQ's delayed set); each release wakes the oldest, so a backlog for one endpoint drains
 * in order without polling, and never sits in front of other endpoints' jobs.
 */
export class EndpointSlots {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly limit: number,
    private readonly leaseMs: number,
  ) {}

  private key(endpointId: string): string {
    return `${this.keyPrefix}:webhook:slots:${endpointId}`;
  }

  private parkedKey(endpointId: string): string {
    return `${this.keyPrefix}:webhook:parked:${endpointId}`;
  }

  async acquire(endpointId: string): Promise<Slot | null> {
    const member = randomUUID();
    const key = this.key(endpointId);
    const got = await this.redis.eval(ACQUIRE, 1, key, this.limit, this.leaseMs, member);
    if (got !== 1) return null;
    return {
      release: async () => {
        await this.redis.zrem(key, member);
      },
    };
  }

  /** Notes a job waiting for a slot of this endpoint. */
  async park(endpointId: string, jobId: string): Promise<void> {
    const key = this.parkedKey(endpointId);
    await this.redis.multi().rpush(key, jobId).pexpire(key, 3_600_000).exec();
  }

  /** The longest-waiting parked job of this endpoint, if any. */
  async nextParked(endpointId: string): Promise<string | null> {
    return this.redis.lpop(this.parkedKey(endpointId));
  }

  async inFlight(endpointId: string): Promise<number> {
    return this.redis.zcount(this.key(endpointId), Date.now(), '+inf');
  }
}
