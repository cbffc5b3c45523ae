import { context, propagation, type Context } from '@opentelemetry/api';
import { currentContext, markTracingSdkActive, tracingSdkActive } from './context';
import { formatTraceparent } from './trace-context';

/**
 * OpenTelemetry bootstrap. Call `startTracing()` first thing in main.ts, before express, pg or
 * ioredis are required, so their instrumentations can hook in. The SDK runs only when spans go
 * somewhere (OTEL_EXPORTER_OTLP_ENDPOINT, or an OTEL_TRACES_EXPORTER other than none): without
 * an exporter it cost a third of a service's CPU for spans thrown away. Then the trace rides in
 * the request context instead (trace-context.ts): ids still reach every log line, traceparent
 * every hop and job.
 */
export interface Tracing {
  shutdown: () => Promise<void>;
}

export function startTracing(serviceName: string, env: Record<string, string | undefined> = process.env): Tracing {
  if (env['OTEL_SDK_DISABLED'] === 'true') return { shutdown: async () => {} };
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const exporter = env['OTEL_TRACES_EXPORTER'];
  if (!endpoint && (exporter === undefined || exporter === '' || exporter === 'none')) return { shutdown: async () => {} };
  // Required lazily so tests and tools that never trace don't load the SDK.
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
  // We export traces only, and only when an endpoint is set: metrics go through /metrics and
  // logs through stdout. Without these the SDK would default to OTLP exporters on localhost.
  process.env['OTEL_LOGS_EXPORTER'] ??= 'none';
  process.env['OTEL_METRICS_EXPORTER'] ??= 'none';
  if (!endpoint) process.env['OTEL_TRACES_EXPORTER'] ??= 'none';
  let traceExporter;
  if (endpoint) {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    traceExporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` });
  }
  const sdk = new NodeSDK({
    serviceName,
    ...(traceExporter ? { traceExporter } : {}),
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') }),
      new ExpressInstrumentation(),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
    metricReaders: [],
  });
  sdk.start();
  markTracingSdkActive();
  return { shutdown: () => sdk.shutdown() };
}

/** The W3C trace headers (`traceparent`, `tracestate`) for a call or job made from here. */
export function injectTraceHeaders(ctx?: Context): Record<string, string> {
  if (!tracingSdkActive()) {
    const ids = currentContext()?.trace;
    return ids ? { traceparent: formatTraceparent(ids) } : {};
  }
  const carrier: Record<string, string> = {};
  propagation.inject(ctx ?? context.active(), carrier);
  return carrier;
}

export function extractTraceContext(carrier: Record<string, string> | undefined): Context {
  return propagation.extract(context.active(), carrier ?? {});
}
