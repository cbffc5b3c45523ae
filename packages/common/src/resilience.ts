import { circuitBreaker, ConsecutiveBreaker, type CircuitBreakerPolicy, ExponentialBackoff, halfJitterGenerator, handleWhen } from 'cockatiel';

export { BrokenCircuitError, CircuitState, isBrokenCircuitError } from 'cockatiel';
export type { CircuitBreakerPolicy } from 'cockatiel';

/** An error that says how long the remote asked us to wait (from a Retry-After header). */
export interface RetryAfterHint {
  retryAfterMs?: number;
}

/** Parse Retry-After: delta-seconds or an HTTP date. Returns ms, or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Whether an error is worth retrying; default: every error. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Aborting stops waiting and retrying at once. */
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injected for tests. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base·2^n)]. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs fn, retrying on failure with full-jitter backoff. A `retryAfterMs` on the error (from
 * Retry-After) is honoured as the minimum wait, capped at maxDelayMs.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const wait = options.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= options.retries || options.signal?.aborted || (options.shouldRetry && !options.shouldRetry(err, attempt))) throw err;
      const hinted = (err as RetryAfterHint | undefined)?.retryAfterMs;
      const jittered = backoffDelay(attempt, base, max, options.random);
      const delay = hinted !== undefined ? Math.min(max, Math.max(hinted, jittered)) : jittered;
      options.onRetry?.(err, attempt + 1, delay);
      await wait(delay, options.signal);
    }
  }
}

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  consecutiveFailures?: number;
  /** How long it stays open before one trial call (half-open). */
  halfOpenAfterMs?: number;
  /**
   * When set, each failed trial keeps it open longer (exponential, jittered) up to this, and a
   * success starts over from halfOpenAfterMs: a brief restart is retried within a second, a
   * dependency that stays down is not probed every second.
   */
  halfOpenMaxMs?: number;
  /** Which errors count as failures (default: all). */
  isFailure?: (err: unknown) => boolean;
}

/** A circuit breaker (cockatiel): fails fast with BrokenCircuitError while open. */
export function createCircuitBreaker(options: BreakerOptions = {}): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(options.isFailure ?? (() => true)), {
    halfOpenAfter:
      options.halfOpenMaxMs !== undefined && options.halfOpenMaxMs > (options.halfOpenAfterMs ?? 10_000)
        ? new ExponentialBackoff({ initialDelay: options.halfOpenAfterMs ?? 10_000, maxDelay: options.halfOpenMaxMs, generator: halfJitterGenerator })
        : (options.halfOpenAfterMs ?? 10_000),
    breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
  });
}

/**
 * Abort signals with a timeout that are released as soon as the work is done. AbortSignal.timeout
 * keeps its signal (and everything listening to it) alive until the timer fires, and
 * AbortSignal.any holds on to its sources: with a 2-minute deadline per request that is minutes
 * of garbage at high request rates. Here the timer is cleared and the parent listeners removed
 * by dispose(), so memory stays flat under load.
 */
export interface ScopedSignal {
  signal: AbortSignal;
  dispose(): void;
}

/** Aborts when any parent aborts (with its reason) or after timeoutMs (with a TimeoutError, like AbortSignal.timeout). */
export function scopedSignal(parents: (AbortSignal | undefined)[], timeoutMs?: number): ScopedSignal {
  const controller = new AbortController();
  const live = parents.filter((p): p is AbortSignal => p !== undefined);
  const already = live.find((p) => p.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose: () => undefined };
  }
  const listeners = live.map((parent) => {
    const onAbort = () => controller.abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    return () => parent.removeEventListener('abort', onAbort);
  });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timeoutMs);
  timer?.unref();
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      for (const remove of listeners) remove();
    },
  };
}
