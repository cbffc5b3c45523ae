/** The longest Retry-After we honour; a longer one is treated as this. */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

export interface RetryPolicy {
  /** Delay before each attempt: `schedule[0]` before the first, `schedule[n]` before attempt n + 1. */
  schedule: number[];
  /** ± fraction of jitter. */
  jitter: number;
  random?: () => number;
}

export function maxAttempts(policy: RetryPolicy): number {
  return policy.schedule.length;
}

export function jittered(delayMs: number, jitter: number, random: () => number = Math.random): number {
  if (delayMs <= 0 || jitter <= 0) return Math.max(0, delayMs);
  return Math.max(0, Math.round(delayMs * (1 + jitter * (2 * random() - 1))));
}

/**
 * The delay before the next attempt after `attemptsMade` attempts of this round, or null when
 * the schedule is used up. A Retry-After from a 429/503 is honoured: never sooner than asked.
 */
export function nextRetryDelay(policy: RetryPolicy, attemptsMade: number, retryAfterMs: number | null): number | null {
  const base = policy.schedule[attemptsMade];
  if (base === undefined) return null;
  const delay = jittered(base, policy.jitter, policy.random);
  return retryAfterMs === null ? delay : Math.max(delay, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
}
