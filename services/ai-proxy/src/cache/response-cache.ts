import { createHash } from 'node:crypto';
import type { Logger, Redis } from '@tollgate/common';
import type { ChatRequest } from '../openai/schema';

/**
 * Exact-match cache of non-streaming chat responses, in Redis, keyed by tenant and a hash of
 * the normalised request (keys sorted; transport-only fields dropped). The stored body is the
 * exact bytes first sent, so a hit is byte-identical. Redis errors are a miss, never a failure.
 */

export interface CachedResponse {
  body: string;
  /** What the original call cost, the base for billing hits. */
  cost: number;
  prompt_tokens: number;
  completion_tokens: number;
  target: string;
}

export interface ResponseCache {
  keyFor(tenantId: string, request: ChatRequest): string;
  get(key: string): Promise<CachedResponse | undefined>;
  set(key: string, value: CachedResponse, ttlS: number): Promise<void>;
}

/** JSON with object keys sorted, so field order never changes the hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Fields that do not change the answer. */
const IGNORED = new Set(['stream', 'stream_options', 'user', 'metadata', 'store']);

export function createResponseCache(options: { redis: Redis; prefix: string; logger: Logger }): ResponseCache {
  const { redis, logger } = options;
  return {
    keyFor(tenantId, request) {
      const normalised = Object.fromEntries(Object.entries(request).filter(([k]) => !IGNORED.has(k)));
      const hash = createHash('sha256').update(canonicalJson(normalised)).digest('hex');
      return `${options.prefix}:ai:cache:${tenantId}:${hash}`;
    },
    async get(key) {
      try {
        const raw = await redis.get(key);
        return raw ? (JSON.parse(raw) as CachedResponse) : undefined;
      } catch (err) {
        logger.warn('response cache read failed; treating as a miss', { err });
        return undefined;
      }
    },
    async set(key, value, ttlS) {
      try {
        await redis.set(key, JSON.stringify(value), 'EX', ttlS);
      } catch (err) {
        logger.warn('response cache write failed', { err });
      }
    },
  };
}
