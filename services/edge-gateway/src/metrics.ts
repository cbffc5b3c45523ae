import { type Metrics, type promClient as client, seriesOn } from '@tollgate/common';

export interface GatewayMetrics {
  authFailures: client.Counter<'reason'>;
  rateLimited: client.Counter<'tier'>;
  rateLimitStoreErrors: client.Counter<'tier' | 'mode'>;
  idempotency: client.Counter<'outcome'>;
  upstreamFailures: client.Counter<'upstream' | 'kind'>;
}

/** The gateway's own counters, registered on the service's registry (exposed at /metrics). */
export function createGatewayMetrics(metrics: Metrics): GatewayMetrics {
  const series = seriesOn(metrics);
  return {
    authFailures: series.counter('gateway_auth_failures_total', 'Refused credentials, by reason', ['reason']),
    rateLimited: series.counter('gateway_rate_limited_total', 'Requests answered 429, by tier', ['tier']),
    rateLimitStoreErrors: series.counter('gateway_rate_limit_store_errors_total', 'Rate-limit checks that could not reach Redis, by tier and what was done (open: let through, closed: refused)', ['tier', 'mode']),
    idempotency: series.counter('gateway_idempotency_total', 'Requests with an Idempotency-Key, by outcome (new, replayed, in_flight, mismatch, store_error)', ['outcome']),
    upstreamFailures: series.counter('gateway_upstream_failures_total', 'Upstream calls that failed, by upstream and kind (unreachable, timeout, circuit_open)', ['upstream', 'kind']),
  };
}
