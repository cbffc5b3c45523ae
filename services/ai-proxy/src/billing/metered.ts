import { AppError, type CreditHold, type Logger, scopedSignal } from '@tollgate/common';
import type { TokenLimiter, TpmDecision } from '../limits/tpm';
import type { AiMetrics } from '../metrics';
import { attemptsOfError, type ExecuteResult, executeWithFallback, MidStreamFailure } from '../routing/executor';
import type { ModelRouter } from '../routing/router';
import type { TargetConfig } from '../routing/schema';
import type { CallRecorder, RecordBase } from '../usage/recorder';
import { type Billing, budgetOf, type Settlement } from './billing';

/**
 * The billing sequence every metered call shares — token limit → hold → (the upstream call) →
 * capture what was used, or release when nothing was → settle the token reservation — written
 * once for chat, streams, embeddings and queued completions, so a fix lands on every path.
 */
export interface Meter {
  /** Takes the token reservation and the hold; a refusal is recorded and thrown (nothing held). */
  open(input: MeterInput): Promise<MeteredCall>;
}

export interface MeterInput {
  base: RecordBase;
  /** Tokens reserved against the tenant's TPM limit (an estimate). */
  promptEstimate: number;
  /** The hold: what the call can cost at most. */
  worstCase: number;
  /** One credits key per call (not per try): hold, capture, overage. */
  billingKey: string;
  ttlS: number;
}

export interface MeteredCall {
  readonly hold: CreditHold;
  readonly tpm: TpmDecision | undefined;
  /** Captures `cost` (the rest returns) and settles the reservation at `tokens`. */
  settle(cost: number, tokens: number): Promise<Settlement>;
  /** Nothing was used: the hold and the reservation go back. */
  release(): Promise<void>;
  /**
   * The upstream request of a call that is not streamed: with fallbacks, under the route's
   * deadline. When every target fails, the hold goes back and the failure is recorded, then thrown.
   */
  upstream<T>(run: (target: TargetConfig, signal: AbortSignal) => Promise<T>): Promise<ExecuteResult<T>>;
}

export interface MeterDeps {
  billing: Billing;
  limiter: TokenLimiter;
  recorder: CallRecorder;
  router: ModelRouter;
  logger: Logger;
  metrics: AiMetrics;
}

export function createMeter(deps: MeterDeps): Meter {
  const { billing, limiter, recorder } = deps;
  return {
    async open(input) {
      const { base } = input;
      let tpm: TpmDecision | undefined;
      try {
        tpm = await limiter.admit(base.caller.tenantId, base.caller.keyId, input.promptEstimate, base.caller.tokensPerMinute);
      } catch (err) {
        await recorder({ ...base, outcome: 'rate_limited', target: undefined, errorCode: errorCodeOf(err), attempts: [] });
        throw err;
      }
      let hold: CreditHold;
      try {
        hold = await billing.hold(
          {
            tenantId: base.caller.tenantId,
            amount: input.worstCase,
            idempotencyKey: input.billingKey,
            ttlS: input.ttlS,
            description: `${base.kind} ${base.route.alias}`,
            budget: budgetOf(base.caller),
          },
          { capturedMeansPaid: false },
        );
      } catch (err) {
        await limiter.settle(tpm, 0);
        await recorder({
          ...base,
          outcome: err instanceof AppError && err.code === 'INSUFFICIENT_CREDITS' ? 'insufficient_credits' : 'error',
          target: undefined,
          errorCode: errorCodeOf(err),
          attempts: [],
        });
        throw err;
      }
      async function release() {
        try {
          await billing.release(hold);
        } finally {
          await limiter.settle(tpm, 0);
        }
      }
      return {
        hold,
        tpm,
        // The token reservation is settled whatever billing does, or it would stay held until it expires.
        async settle(cost, tokens) {
          try {
            return await billing.settle(hold, cost, input.billingKey);
          } finally {
            await limiter.settle(tpm, tokens);
          }
        },
        release,
        async upstream(run) {
          const { route } = base;
          const deadline = scopedSignal([], route.deadlineMs);
          try {
            return await executeWithFallback(deps.router, route, run, {
              deadline: deadline.signal,
              deadlineAt: Date.now() + route.deadlineMs,
              streaming: false,
              logger: deps.logger,
              metrics: deps.metrics,
            });
          } catch (err) {
            await release();
            await recorder({
              ...base,
              outcome: 'error',
              target: undefined,
              holdId: hold.id,
              errorCode: errorCodeOf(err),
              attempts: attemptsOfError(err) ?? [],
            });
            throw err;
          } finally {
            deadline.dispose();
          }
        },
      };
    },
  };
}

export function errorCodeOf(err: unknown): string {
  if (err instanceof AppError) return err.code;
  if (err instanceof MidStreamFailure) return 'UPSTREAM_FAILED';
  return 'INTERNAL';
}
