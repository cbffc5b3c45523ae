import { type Metrics, promClient as client } from '@tollgate/common';

/** The gateway's own counters, registered on the service's registry (exposed at /metrics). */
export function createGatewayMetrics(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    authFailures: new client.Counter({ name: 'gateway_auth_failures_total', help: 'Refused credentials, by reason', labelNames: ['reason'] as const, registers }),
    rateLimited: new client.Counter({ name: 'gateway_rate_limited_total', help: 'Requests answered 429, by tier', labelNames: ['tier'] as const, registers }),
    rateLimitStoreErrors: new client.Counter({
      name: 'gateway_rate_limit_store_errors_total',
      help: 'Rate-limit checks that could not reach Redis, by tier and what was done (open: let through, closed: refused)',
      labelNames: ['tier', 'mode'] as const,
      registers,
    }),
    idempotency: new client.Counter({
      name: 'gateway_idempotency_total',
      help: 'Requests with an Idempotency-Key, by outcome (new, replayed, in_flight, mismatch, store_error)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    upstreamFailures: new client.Counter({
      name: 'gateway_upstream_failures_total',
      help: 'Upstream calls that failed, by upstream and kind (unreachable, timeout, circuit_open)',
      labelNames: ['upstream', 'kind'] as const,
      registers,
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
