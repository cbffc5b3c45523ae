import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { runWithContext, tracingSdkActive } from '../context';
import { traceIdsUnder } from '../trace-context';

export const REQUEST_ID_HEADER = 'x-request-id';
/** What a client may send as its request id; anything else is replaced, never echoed. */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && VALID_REQUEST_ID.test(value);
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      requestId: string;
    }
  }
}

/**
 * Accepts a well-formed X-Request-ID or makes one, echoes it, and opens the log context — with
 * this hop's place in the caller's trace when the OpenTelemetry SDK is not doing that.
 */
export function requestIdMiddleware() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers[REQUEST_ID_HEADER];
    const requestId = isValidRequestId(incoming) ? incoming : randomUUID();
    req.requestId = requestId;
    // Downstream proxies and handlers read the header, so it must hold the validated value.
    req.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader('X-Request-ID', requestId);
    if (tracingSdkActive()) runWithContext({ requestId }, next);
    else runWithContext({ requestId, trace: traceIdsUnder(req.headers.traceparent) }, next);
  };
}
