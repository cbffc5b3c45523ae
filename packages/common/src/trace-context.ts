import { randomFillSync } from 'node:crypto';
import type { TraceIds } from './context';

/**
 * W3C Trace Context without the OpenTelemetry SDK. When no exporter is configured the SDK's
 * spans go nowhere, yet its async hooks and instrumentations were a third of a service's CPU on
 * the billed chat path. The trace id still has to reach every log line and every hop, so each
 * request or job keeps `{traceId, spanId, flags}` in its context and passes on a `traceparent`
 * naming its own span as the parent.
 */
const TRACEPARENT = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Random hex from a pooled buffer: one getrandom call per ~170 ids instead of one each. */
const POOL = Buffer.alloc(4096);
let offset = POOL.length;
export function randomHex(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

export function isValidTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

/** This hop's ids under an incoming traceparent (same trace, new span), or a new trace. */
export function traceIdsUnder(traceparent: unknown): TraceIds {
  const match = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent) : null;
  if (match) return { traceId: match[1]!, spanId: randomHex(8), flags: match[3]! };
  const ids = randomHex(24);
  return { traceId: ids.slice(0, 32), spanId: ids.slice(32), flags: '01' };
}

export const formatTraceparent = (ids: TraceIds): string => `00-${ids.traceId}-${ids.spanId}-${ids.flags}`;
