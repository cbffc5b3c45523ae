import { type Metrics, seriesOn } from '@tollgate/common';
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
  const series = seriesOn(metrics);
  return {
    requests: series.counter('ai_requests_total', 'AI requests by model alias, serving target, kind and outcome', ['model', 'target', 'kind', 'outcome']),
    tokens: series.counter('ai_tokens_total', 'Tokens billed, by model, target and direction (in|out)', ['model', 'target', 'direction']),
    cost: series.counter('ai_cost_micro_credits_total', 'Micro-credits captured, by model and target', ['model', 'target']),
    upstreamLatency: series.histogram('ai_upstream_latency_seconds', 'Upstream attempt duration (whole stream for streams)', LATENCY_BUCKETS, ['provider', 'target', 'outcome']),
    timeToFirstToken: series.histogram('ai_time_to_first_token_seconds', 'From request to the first streamed chunk sent to the client', LATENCY_BUCKETS, ['model', 'target']),
    attempts: series.counter('ai_upstream_attempts_total', 'Upstream attempts by target and result (success|retryable|failed|skipped_open)', ['target', 'result']),
    fallbacks: series.counter('ai_fallbacks_total', 'Requests served by a target other than the first choice', ['model']),
    cache: series.counter('ai_cache_requests_total', 'Response cache lookups by result (hit|miss)', ['result']),
    breakerState: series.gauge('ai_breaker_state', 'Circuit breaker state per target: 0 closed, 1 open, 2 half-open, 3 isolated', ['target'], function () {
      for (const { target, state } of breakerStates()) this.set({ target }, state);
    }),
  };
}
