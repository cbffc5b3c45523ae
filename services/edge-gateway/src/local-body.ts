import { createHash } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import { gatewayState } from './request-state';

/**
 * JSON parsing for the gateway's own (admin) routes, bounded by the admin body limit. The
 * bytes' SHA-256 is kept for the Idempotency-Key fingerprint, so the body is read only once.
 */
export function localJsonBody(limitBytes: number): RequestHandler {
  return express.json({
    limit: limitBytes,
    strict: true,
    verify: (req, _res, buf) => {
      gatewayState(req as express.Request).parsedBodySha256 = createHash('sha256').update(buf).digest('hex');
    },
  });
}
