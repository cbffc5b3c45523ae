import { createHash } from 'node:crypto';
import type { Redis } from '@tollgate/common';

export interface InFlightRecord {
  state: 'in_flight';
  token: string;
  started_at: number;
}

export interface CompletedRecord {
  state: 'completed';
  token: string;
  /** SHA-256 over method, path and body of the first request. */
  fingerprint: string;
  status: number;
  headers: Record<string, string | string[]>;
  /** base64 */
  body: string;
  completed_at: number;
}

export type IdempotencyRecord = InFlightRecord | CompletedRecord;

export type BeginResult = { acquired: true } | { acquired: false; record: IdempotencyRecord };

// Only the request that took the lock may complete or release it (its token is in the record).
const COMPLETE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current).token ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`;

const RELEASE_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current).token ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/**
 * Idempotency records in Redis, one per (tenant, Idempotency-Key): taken with SET NX while the
 * first request runs, replaced by the stored response for the retention period.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionS: number,
  ) {}

  /** Tenants never share a record: the tenant id is part of the Redis key. */
  keyFor(tenantId: string, idempotencyKey: string): string {
    return `${this.prefix}:gw:idem:${tenantId}:${createHash('sha256').update(idempotencyKey).digest('hex')}`;
  }

  async begin(key: string, token: string, lockTtlMs: number): Promise<BeginResult> {
    // Fail at once rather than queue behind a reconnect: the caller decides what a 503 means.
    if (this.redis.status !== 'ready') throw new Error(`Redis connection is ${this.redis.status}`);
    const record: InFlightRecord = { state: 'in_flight', token, started_at: Date.now() };
    // Two attempts: the record may expire between a failed SET NX and the GET.
    for (let attempt = 0; attempt < 2; attempt++) {
      const set = await this.redis.set(key, JSON.stringify(record), 'PX', lockTtlMs, 'NX');
      if (set === 'OK') return { acquired: true };
      const existing = await this.redis.get(key);
      if (existing) return { acquired: false, record: JSON.parse(existing) as IdempotencyRecord };
    }
    throw new Error('idempotency record vanished twice while being read');
  }

  async complete(key: string, record: CompletedRecord): Promise<boolean> {
    const done = await this.redis.eval(COMPLETE_SCRIPT, 1, key, record.token, JSON.stringify(record), String(this.retentionS));
    return done === 1;
  }

  async release(key: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, key, token);
  }
}
