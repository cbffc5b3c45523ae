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

// Frees a slot and hands back the longest-parked job to wake, in one round trip.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('LPOP', KEYS[2])
`;

type SlotCommands = {
  webhookAcquireSlot(key: string, limit: number, leaseMs: number, member: string): Promise<number>;
  webhookReleaseSlot(key: string, parkedKey: string, member: string): Promise<string | null>;
};

export interface Slot {
  /** Frees the slot; returns the id of a parked job to wake, if one waits. */
  release(): Promise<string | null>;
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
  private readonly commands: SlotCommands;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly limit: number,
    private readonly leaseMs: number,
  ) {
    // Defined commands run by EVALSHA: the scripts are not resent with every call.
    const commands = redis as unknown as Partial<SlotCommands>;
    if (!commands.webhookAcquireSlot) redis.defineCommand('webhookAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE });
    if (!commands.webhookReleaseSlot) redis.defineCommand('webhookReleaseSlot', { numberOfKeys: 2, lua: RELEASE });
    this.commands = redis as unknown as SlotCommands;
  }

  private key(endpointId: string): string {
    return `${this.keyPrefix}:webhook:slots:${endpointId}`;
  }

  private parkedKey(endpointId: string): string {
    return `${this.keyPrefix}:webhook:parked:${endpointId}`;
  }

  async acquire(endpointId: string): Promise<Slot | null> {
    const member = randomUUID();
    const key = this.key(endpointId);
    const got = await this.commands.webhookAcquireSlot(key, this.limit, this.leaseMs, member);
    if (got !== 1) return null;
    return { release: () => this.commands.webhookReleaseSlot(key, this.parkedKey(endpointId), member) };
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
