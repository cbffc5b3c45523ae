import type { Caller } from '../chat/service';
import type { UsageOutcome } from '../db';
import type { AiMetrics } from '../metrics';
import type { AttemptRecord } from '../routing/executor';
import type { ModelRoute, TargetConfig } from '../routing/schema';
import type { UsageWriter } from './writer';

/** What every call's record starts from. */
export interface RecordBase {
  id: string;
  caller: Caller;
  route: ModelRoute;
  kind: 'chat' | 'embedding' | 'async_chat';
  stream: boolean;
  /** performance.now() at the start of the call. */
  started: number;
}

export interface CallRecord extends RecordBase {
  outcome: UsageOutcome;
  target: TargetConfig | undefined;
  holdId?: string;
  promptTokens?: number;
  completionTokens?: number;
  cost?: number;
  errorCode?: string;
  attempts: AttemptRecord[];
  ttftMs?: number | undefined;
  cached?: boolean;
}

/**
 * Resolves once the call's row is safe: a billed call (cost > 0) is written before it resolves
 * (callers await it before their answer ends), so usage totals match the ledger's captures;
 * an unbilled row goes through the batched writer. Never rejects.
 */
export type CallRecorder = (entry: CallRecord) => Promise<void>;

/** One usage row and the metrics of one call. */
export function createCallRecorder(usage: UsageWriter, metrics: AiMetrics): CallRecorder {
  return (entry) => {
    const targetId = entry.target?.id ?? 'none';
    metrics.requests.inc({ model: entry.route.alias, target: targetId, kind: entry.kind, outcome: entry.outcome });
    if (entry.promptTokens) metrics.tokens.inc({ model: entry.route.alias, target: targetId, direction: 'in' }, entry.promptTokens);
    if (entry.completionTokens)
      metrics.tokens.inc({ model: entry.route.alias, target: targetId, direction: 'out' }, entry.completionTokens);
    if (entry.cost) metrics.cost.inc({ model: entry.route.alias, target: targetId }, entry.cost);
    const row = {
      id: entry.id,
      tenant_id: entry.caller.tenantId,
      key_id: entry.caller.keyId,
      request_id: entry.caller.requestId,
      kind: entry.kind,
      model: entry.route.alias,
      target: entry.target?.id ?? null,
      provider: entry.target?.provider ?? null,
      upstream_model: entry.target?.model ?? null,
      stream: entry.stream,
      cached: entry.cached ?? false,
      prompt_tokens: entry.promptTokens ?? 0,
      completion_tokens: entry.completionTokens ?? 0,
      cost: entry.cost ?? 0,
      hold_id: entry.holdId ?? null,
      outcome: entry.outcome,
      error_code: entry.errorCode ?? null,
      attempts: entry.attempts.filter((a) => a.result !== 'skipped_open').length,
      latency_ms: Math.round(performance.now() - entry.started),
      ttft_ms: entry.ttftMs === undefined ? null : Math.round(entry.ttftMs),
      created_at: new Date(),
      tags: JSON.stringify(entry.caller.tags ?? {}),
      user: entry.caller.user ?? null,
      metadata: entry.caller.metadata ? JSON.stringify(entry.caller.metadata) : null,
    };
    if (row.cost > 0) return usage.writeNow(row);
    usage.record(row);
    return Promise.resolve();
  };
}
