import { AppError, type Logger, type Redis } from '@tollgate/common';

/**
 * Tokens per minute per API key, counted in Redis so every replica shares one budget.
 * A sliding window over two fixed one-minute buckets (the previous bucket weighted by how much
 * of it still overlaps the window). Admission reserves the prompt estimate atomically, so
 * concurrent requests see each other; after the call the reservation is corrected to the real
 * token count.
 */

const WINDOW_MS = 60_000;

// KEYS[1] current bucket, KEYS[2] previous bucket; ARGV limit, tokens, elapsed ms in the current bucket.
const ADMIT = `
local limit = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local used = math.floor(previous * (60000 - elapsed) / 60000) + current
if used + tokens > limit then
  return {0, used}
end
redis.call('INCRBY', KEYS[1], tokens)
redis.call('PEXPIRE', KEYS[1], 130000)
return {1, used + tokens}
`;

// KEYS[1] the bucket a reservation went into; ARGV delta. A bucket that has expired is out of
// every window by then (130 s > two buckets), so there is nothing to correct; re-creating it
// with INCRBY would leave a key without a TTL, kept forever under Redis's noeviction.
const ADJUST = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
`;

export interface TpmDecision {
  limit: number;
  remaining: number;
  /** Seconds until the current bucket rolls over. */
  resetS: number;
  /** Pass back to settle(); undefined when no limit applies. */
  reservation: { key: string; tokens: number } | undefined;
}

export interface TokenLimiter {
  /** `keyLimit`: the API key's own limit (from its identity), over the routing file's. */
  admit(tenantId: string, keyId: string, estimatedTokens: number, keyLimit?: number): Promise<TpmDecision | undefined>;
  /** Correct the reservation to the tokens really used (0 when the call failed). */
  settle(decision: TpmDecision | undefined, actualTokens: number): Promise<void>;
}

export function createTokenLimiter(options: {
  redis: Redis;
  prefix: string;
  limits: { tokens_per_minute: number; keys: Record<string, number> };
  logger: Logger;
  now?: () => number;
}): TokenLimiter {
  const { redis, logger } = options;
  const now = options.now ?? Date.now;
  const limitFor = (keyId: string) => options.limits.keys[keyId] ?? options.limits.tokens_per_minute;
  return {
    async admit(tenantId, keyId, estimatedTokens, keyLimit) {
      const limit = keyLimit ?? limitFor(keyId);
      if (!limit) return undefined;
      const t = now();
      const bucket = Math.floor(t / WINDOW_MS);
      const elapsed = t - bucket * WINDOW_MS;
      const base = `${options.prefix}:ai:tpm:${tenantId}:${keyId}`;
      const key = `${base}:${bucket}`;
      const resetS = Math.max(1, Math.ceil((WINDOW_MS - elapsed) / 1000));
      let result: [number, number];
      try {
        result = (await redis.eval(ADMIT, 2, key, `${base}:${bucket - 1}`, String(limit), String(estimatedTokens), String(elapsed))) as [
          number,
          number,
        ];
      } catch (err) {
        // Fail open: money is protected by the credits hold; a Redis outage must not stop traffic.
        logger.warn('token limit check failed; admitting', { err });
        return undefined;
      }
      const [admitted, used] = result;
      const remaining = Math.max(0, limit - used);
      const headers = {
        'x-ratelimit-limit-tokens': String(limit),
        'x-ratelimit-remaining-tokens': String(remaining),
        'x-ratelimit-reset-tokens': `${resetS}s`,
      };
      if (!admitted) {
        const message =
          estimatedTokens > limit
            ? `This request (~${estimatedTokens} tokens) exceeds the key's limit of ${limit} tokens per minute`
            : `Token rate limit reached: ${limit} tokens per minute for this key`;
        throw new AppError('RATE_LIMITED', message, {
          headers: { ...headers, 'Retry-After': String(resetS) },
          details: { limit_tokens_per_minute: limit },
        });
      }
      return { limit, remaining, resetS, reservation: { key, tokens: estimatedTokens } };
    },

    async settle(decision, actualTokens) {
      if (!decision?.reservation) return;
      const delta = actualTokens - decision.reservation.tokens;
      if (delta === 0) return;
      try {
        await redis.eval(ADJUST, 1, decision.reservation.key, String(delta));
      } catch (err) {
        logger.warn('token limit settle failed', { err });
      }
    },
  };
}

export function tpmHeaders(decision: TpmDecision | undefined): Record<string, string> {
  if (!decision) return {};
  return {
    'x-ratelimit-limit-tokens': String(decision.limit),
    'x-ratelimit-remaining-tokens': String(decision.remaining),
    'x-ratelimit-reset-tokens': `${decision.resetS}s`,
  };
}
