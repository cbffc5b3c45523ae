import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// KEYS: slots zset, parked zset. ARGV: limit, lease ms, slot member, job id.
// Expired leases (a worker that died mid-attempt) free themselves; Redis' clock is the only clock.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 1
end
return 0
`;

// Frees a slot and hands back the longest-parked job to wake, in one round trip.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
local next = redis.call('ZPOPMIN', KEYS[2])
return next[1]
`;

// A job keeps its place (first park time) however often its fallback wakes it: ZADD NX.
const PARK = `
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
return 1
`;

const POSITION = `
local r = redis.call('ZRANK', KEYS[1], ARGV[1])
if r then return r end
return redis.call('ZCARD', KEYS[1])
`;

type SlotCommands = {
  webhookAcquireSlot(slotsKey: string, parkedKey: string, limit: number, leaseMs: number, member: string, jobId: string): Promise<number>;
  webhookReleaseSlot(slotsKey: string, parkedKey: string, member: string): Promise<string | null>;
  webhookPark(parkedKey: string, jobId: string): Promise<number>;
  webhookParkedPosition(parkedKey: string, jobId: string): Promise<number>;
};

export interface Slot {
  /** Frees the slot; returns the id of the longest-parked job to wake, if one waits. */
  release(): Promise<string | null>;
}

/**
 * A counting semaphore per endpoint in Redis: at most `limit` attempts in flight to one
 * endpoint across every worker, so a slow or hanging endpoint holds a few worker slots and
 * never all of them. Each holder's lease expires by itself after `leaseMs`.
 *
 * Jobs that find their endpoint saturated park in a per-endpoint queue ordered by when they
 * first parked (and sleep in BullMQ's delayed set); each release wakes the oldest, so a backlog
 * for one endpoint drains in order, without polling, and never sits in front of other
 * endpoints' jobs.
 */
export class EndpointSlots {
  private readonly commands: SlotCommands;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    readonly limit: number,
    private readonly leaseMs: number,
  ) {
    // Defined commands run by EVALSHA: the scripts are not resent with every call.
    const defined = redis as unknown as Partial<SlotCommands>;
    if (!defined.webhookAcquireSlot) redis.defineCommand('webhookAcquireSlot', { numberOfKeys: 2, lua: ACQUIRE });
    if (!defined.webhookReleaseSlot) redis.defineCommand('webhookReleaseSlot', { numberOfKeys: 2, lua: RELEASE });
    if (!defined.webhookPark) redis.defineCommand('webhookPark', { numberOfKeys: 1, lua: PARK });
    if (!defined.webhookParkedPosition) redis.defineCommand('webhookParkedPosition', { numberOfKeys: 1, lua: POSITION });
    this.commands = redis as unknown as SlotCommands;
  }

  private slotsKey(endpointId: string): string {
    return `${this.keyPrefix}:webhook:slots:${endpointId}`;
  }

  private parkedKey(endpointId: string): string {
    return `${this.keyPrefix}:webhook:parked:${endpointId}`;
  }

  async acquire(endpointId: string, jobId: string): Promise<Slot | null> {
    const member = randomUUID();
    const slotsKey = this.slotsKey(endpointId);
    const parkedKey = this.parkedKey(endpointId);
    const got = await this.commands.webhookAcquireSlot(slotsKey, parkedKey, this.limit, this.leaseMs, member, jobId);
    if (got !== 1) return null;
    return { release: () => this.commands.webhookReleaseSlot(slotsKey, parkedKey, member) };
  }

  /** How many jobs wait ahead of this one (its place if it parked before, else the queue's length). */
  async parkedPosition(endpointId: string, jobId: string): Promise<number> {
    return this.commands.webhookParkedPosition(this.parkedKey(endpointId), jobId);
  }

  /** Notes a job waiting for a slot of this endpoint (keeping its place if it already waited). */
  async park(endpointId: string, jobId: string): Promise<void> {
    await this.commands.webhookPark(this.parkedKey(endpointId), jobId);
  }

  /** Takes the longest-waiting parked job of this endpoint, if any. */
  async nextParked(endpointId: string): Promise<string | null> {
    const [jobId] = await this.redis.zpopmin(this.parkedKey(endpointId));
    return jobId ?? null;
  }
}
