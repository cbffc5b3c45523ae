import { context, propagation, type Context } from '@opentelemetry/api';

/**
 * OpenTelemetry bootstrap. Call `startTracing()` first thing in main.ts, before express, pg or
 * ioredis are required, so their instrumentations can hook in. With no
 * OTEL_EXPORTER_OTLP_ENDPOINT, spans are still created (ids reach logs and traceparent is
 * propagated) but nothing is exported.
 */
export interface Tracing {
  shutdown: () => Promise<void>;
}

const discardingSpanProcessor = {
  onStart: () => undefined,
  onEnd: () => undefined,
  shutdown: async () => undefined,
  forceFlush: async () => undefined,
};

export function startTracing(serviceName: string, env: Record<string, string | undefined> = process.env): Tracing {
  if (env['OTEL_SDK_DISABLED'] === 'true') return { shutdown: async () => {} };
  // Required lazily so tests and tools that never trace don't load the SDK.
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof import('@opentelemetry/instrumentation-express');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
  const endpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
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
    // With no exporter a do-nothing processor still gives a real tracer provider, so spans get
    // their own ids (for log correlation and traceparent) instead of no-op spans.
    ...(traceExporter ? { traceExporter } : { spanProcessors: [discardingSpanProcessor] }),
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') }),
      new ExpressInstrumentation(),
      new PgInstrumentation(),
      new IORedisInstrumentation(),
    ],
    metricReaders: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

/** The W3C trace headers (`traceparent`, `tracestate`) of the active context. */
export function injectTraceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

export function extractTraceContext(carrier: Record<string, string> | undefined): Context {
  return propagation.extract(context.active(), carrier ?? {});
}
