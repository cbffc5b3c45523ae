import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';

/** This service's place in a W3C trace: the trace id and its own span id (its child's parent). */
export interface TraceIds {
  traceId: string;
  spanId: string;
  /** The W3C trace-flags byte, as two hex digits. */
  flags: string;
}

/** What every log line of one request or job carries. */
export interface RequestContext {
  requestId: string;
  tenantId?: string;
  /** Set while the OpenTelemetry SDK is off: the trace is carried without it. */
  trace?: TraceIds;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

let sdkActive = false;
/** startTracing calls this when it starts the OpenTelemetry SDK; until then traces ride in the request context. */
export function markTracingSdkActive(): void {
  sdkActive = true;
}
export const tracingSdkActive = (): boolean => sdkActive;

/** The trace ids of this request or job: the SDK's active span, or the context's own. */
export function currentTraceIds(): { trace_id: string; span_id: string } | undefined {
  if (!sdkActive) {
    const ids = storage.getStore()?.trace;
    return ids ? { trace_id: ids.traceId, span_id: ids.spanId } : undefined;
  }
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  // An all-zero id means "no real span" (tracing disabled).
  if (!traceId || /^0+$/.test(traceId)) return undefined;
  void traceFlags;
  return { trace_id: traceId, span_id: spanId };
}
