import type { Metrics } from '@tollgate/common';
import client from 'prom-client';

/** The AI proxy's own series, registered on the service's registry (labels are bounded: aliases and target ids come from config). */
export interface AiMetrics {
  requests: client.Counter<'model' | 'target' | 'kind' | 'outcome'>;
  tokens: client.Counter<'model' | 'target' | 'direction'>;
  cost: client.Counter<'model' | 'target'>;
  upstreamLatency: client.Histogram<'provider' | 'target' | 'outcome'>;
  timeToFirstToken: client.Histogram<'model' | 'target'>;
  attempts: client.Counter<'target' | 'result'>;
  fallbacks: client.Counter<'model'>;
  cache: client.Counter<'result'>;
  breakerState: client.Gauge<'target'>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createAiMetrics(metrics: Metrics, breakerStates: () => { target: string; state: number }[]): AiMetrics {
  const registers = [metrics.registry];
  return {
    requests: new client.Counter({
      name: 'ai_requests_total',
      help: 'AI requests by model alias, serving target, kind and outcome',
      labelNames: ['model', 'target', 'kind', 'outcome'] as const,
      registers,
    }),
    tokens: new client.Counter({
      name: 'ai_tokens_total',
      help: 'Tokens billed, by model, target and direction (in|out)',
      labelNames: ['model', 'target', 'direction'] as const,
      registers,
    }),
    cost: new client.Counter({
      name: 'ai_cost_micro_credits_total',
      help: 'Micro-credits captured, by model and target',
      labelNames: ['model', 'target'] as const,
      registers,
    }),
    upstreamLatency: new client.Histogram({
      name: 'ai_upstream_latency_seconds',
      help: 'Upstream attempt duration (whole stream for streams)',
      labelNames: ['provider', 'target', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    timeToFirstToken: new client.Histogram({
      name: 'ai_time_to_first_token_seconds',
      help: 'From request to the first streamed chunk sent to the client',
      labelNames: ['model', 'target'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    attempts: new client.Counter({
      name: 'ai_upstream_attempts_total',
      help: 'Upstream attempts by target and result (success|retryable|failed|skipped_open)',
      labelNames: ['target', 'result'] as const,
      registers,
    }),
    fallbacks: new client.Counter({
      name: 'ai_fallbacks_total',
      help: 'Requests served by a target other than the first choice',
      labelNames: ['model'] as const,
      registers,
    }),
    cache: new client.Counter({
      name: 'ai_cache_requests_total',
      help: 'Response cache lookups by result (hit|miss)',
      labelNames: ['result'] as const,
      registers,
    }),
    breakerState: new client.Gauge({
      name: 'ai_breaker_state',
      help: 'Circuit breaker state per target: 0 closed, 1 open, 2 half-open, 3 isolated',
      labelNames: ['target'] as const,
      registers,
      collect() {
        for (const { target, state } of breakerStates()) this.set({ target }, state);
      },
    }),
  };
}
