import { AppError, backoffDelay, CircuitState, isBrokenCircuitError, type Logger, type ScopedSignal, scopedSignal, sleep } from '@tollgate/common';
import type { AiMetrics } from '../metrics';
import { ClientGoneError, isUpstreamError, UpstreamError } from '../providers/errors';
import type { ModelRouter } from './router';
import type { ModelRoute, TargetConfig } from './schema';

/**
 * Runs one logical upstream call over a model's targets: retries with full-jitter backoff (at
 * least the upstream's Retry-After) on retryable failures, falls back to the next target when
 * retries run out, skips targets whose breaker is open, and stops at the request's deadline.
 *
 * `run` may stream: once `committed()` turns true (bytes reached the client) a failure can no
 * longer be retried or sent elsewhere, and surfaces as MidStreamFailure.
 */

export interface AttemptRecord {
  target: string;
  result: 'success' | 'retryable' | 'failed' | 'skipped_open';
  status?: number;
  error?: string;
  duration_ms?: number;
}

export class MidStreamFailure extends Error {
  override readonly name = 'MidStreamFailure';
  constructor(
    readonly target: TargetConfig,
    readonly attempts: AttemptRecord[],
    cause: unknown,
  ) {
    super('the upstream stream failed after the first chunk', { cause });
  }
}

const attemptsByError = new WeakMap<object, AttemptRecord[]>();

/** The attempts made before a call failed (for the usage log). */
export function attemptsOfError(err: unknown): AttemptRecord[] | undefined {
  return err && typeof err === 'object' ? attemptsByError.get(err) : undefined;
}

function withAttempts<E>(err: E, attempts: AttemptRecord[]): E {
  if (err && typeof err === 'object') attemptsByError.set(err, attempts);
  return err;
}

export interface ExecuteOptions {
  deadline: AbortSignal;
  deadlineAt: number;
  /** Our client went away (streams): stop at once, nothing to retry for. */
  clientSignal?: AbortSignal;
  committed?: () => boolean;
  logger: Logger;
  metrics: AiMetrics;
  random?: () => number;
}

export interface ExecuteResult<T> {
  value: T;
  target: TargetConfig;
  attempts: AttemptRecord[];
}

/** The signal one attempt runs under: the deadline, our client, and (non-streaming) the target's timeout. */
function attemptSignal(target: TargetConfig, options: ExecuteOptions, streaming: boolean): ScopedSignal {
  // Streams are bounded per chunk by the provider's idle timeout instead.
  return scopedSignal([options.deadline, options.clientSignal], streaming ? undefined : target.timeoutMs);
}

export async function executeWithFallback<T>(
  router: ModelRouter,
  route: ModelRoute,
  run: (target: TargetConfig, signal: AbortSignal) => Promise<T>,
  options: ExecuteOptions & { streaming: boolean },
): Promise<ExecuteResult<T>> {
  const attempts: AttemptRecord[] = [];
  try {
    return await tryTargets(router, route, run, options, attempts);
  } catch (err) {
    throw withAttempts(err, attempts);
  }
}

async function tryTargets<T>(
  router: ModelRouter,
  route: ModelRoute,
  run: (target: TargetConfig, signal: AbortSignal) => Promise<T>,
  options: ExecuteOptions & { streaming: boolean },
  attempts: AttemptRecord[],
): Promise<ExecuteResult<T>> {
  const defaults = router.routing.defaults;
  let lastError: unknown;
  const targets = router.order(route);
  for (const [position, target] of targets.entries()) {
    const breaker = router.breaker(target.id);
    for (let attempt = 0; attempt <= target.retries; attempt++) {
      if (options.clientSignal?.aborted) throw options.clientSignal.reason ?? new ClientGoneError();
      if (options.deadline.aborted) throw deadlineError(route, attempts);
      // Half-open: one trial call is already under way; everyone else treats the target as open.
      if (breaker.state === CircuitState.HalfOpen || breaker.state === CircuitState.Isolated) {
        attempts.push({ target: target.id, result: 'skipped_open' });
        options.metrics.attempts.inc({ target: target.id, result: 'skipped_open' });
        break;
      }
      const started = performance.now();
      const scope = attemptSignal(target, options, options.streaming);
      try {
        const value = await breaker.execute(() => run(target, scope.signal));
        const duration = performance.now() - started;
        attempts.push({ target: target.id, result: 'success', duration_ms: Math.round(duration) });
        options.metrics.attempts.inc({ target: target.id, result: 'success' });
        options.metrics.upstreamLatency.observe({ provider: target.provider, target: target.id, outcome: 'success' }, duration / 1000);
        if (position > 0) options.metrics.fallbacks.inc({ model: route.alias });
        return { value, target, attempts };
      } catch (err) {
        const duration = performance.now() - started;
        if (isBrokenCircuitError(err)) {
          attempts.push({ target: target.id, result: 'skipped_open' });
          options.metrics.attempts.inc({ target: target.id, result: 'skipped_open' });
          break;
        }
        if (err instanceof ClientGoneError || (options.clientSignal?.aborted && !isUpstreamError(err)))
          throw options.clientSignal?.reason ?? err;
        const upstream = isUpstreamError(err) ? err : undefined;
        const record: AttemptRecord = {
          target: target.id,
          result: upstream?.retryable ? 'retryable' : 'failed',
          ...(upstream?.status !== undefined ? { status: upstream.status } : {}),
          error: upstream
            ? `${upstream.message}${upstream.options.upstreamMessage ? `: ${upstream.options.upstreamMessage}` : ''}`
            : (err as Error)?.message,
          duration_ms: Math.round(duration),
        };
        attempts.push(record);
        options.metrics.attempts.inc({ target: target.id, result: record.result });
        options.metrics.upstreamLatency.observe({ provider: target.provider, target: target.id, outcome: 'error' }, duration / 1000);
        options.logger.warn('upstream attempt failed', { model: route.alias, ...record, attempt: attempt + 1 });
        if (options.committed?.()) throw new MidStreamFailure(target, attempts, err);
        if (!upstream) throw err; // a bug of ours: not something another target fixes
        lastError = upstream;
        if (options.deadline.aborted) throw deadlineError(route, attempts);
        if (upstream.isClientFault) {
          throw new AppError(
            'VALIDATION_FAILED',
            `The upstream refused the request: ${upstream.options.upstreamMessage ?? `status ${upstream.status}`}`,
            { details: { target: target.id } },
          );
        }
        if (!upstream.retryable || attempt >= target.retries) break;
        const hinted = upstream.retryAfterMs;
        if (hinted !== undefined && hinted > defaults.max_retry_after_ms) break; // a long wait: another target serves sooner
        const delay = Math.max(
          hinted ?? 0,
          backoffDelay(attempt, defaults.retry_base_delay_ms, defaults.retry_max_delay_ms, options.random),
        );
        if (Date.now() + delay >= options.deadlineAt) break;
        const wait = scopedSignal([options.deadline, options.clientSignal]);
        try {
          await sleep(delay, wait.signal);
        } catch {
          if (options.clientSignal?.aborted) throw options.clientSignal.reason ?? new ClientGoneError();
          throw deadlineError(route, attempts);
        } finally {
          wait.dispose();
        }
      } finally {
        scope.dispose();
      }
    }
  }
  throw exhaustedError(route, attempts, lastError);
}

function deadlineError(route: ModelRoute, attempts: AttemptRecord[]): AppError {
  return new AppError('UPSTREAM_TIMEOUT', `The model \`${route.alias}\` did not answer within the request deadline`, {
    details: { model: route.alias, attempts: attempts.length },
  });
}

function exhaustedError(route: ModelRoute, attempts: AttemptRecord[], lastError: unknown): AppError {
  if (attempts.every((a) => a.result === 'skipped_open')) {
    return new AppError('SERVICE_UNAVAILABLE', `Every upstream of the model \`${route.alias}\` is unavailable right now`, {
      details: { model: route.alias },
      headers: { 'Retry-After': '1' },
    });
  }
  const last = lastError instanceof UpstreamError ? lastError : undefined;
  if (last?.status === 429) {
    const seconds = Math.max(1, Math.ceil((last.retryAfterMs ?? 1_000) / 1000));
    return new AppError('RATE_LIMITED', `The upstream of the model \`${route.alias}\` is rate limiting; retry later`, {
      details: { model: route.alias },
      headers: { 'Retry-After': String(seconds) },
    });
  }
  if (last?.kind === 'timeout')
    return new AppError('UPSTREAM_TIMEOUT', `The upstream of the model \`${route.alias}\` timed out`, {
      details: { model: route.alias, attempts: attempts.length },
    });
  return new AppError('UPSTREAM_FAILED', `The upstream of the model \`${route.alias}\` failed`, {
    details: { model: route.alias, attempts: attempts.length },
  });
}
