import type { NextFunction, Request, Response } from 'express';
import type { TenantRateLimits } from './db';
import { type ClassifiedRequest, classifyRequest } from './proxy/routes';
import type { BodyDigest } from './proxy/body';

/** What the gateway learns about one request as it passes the middleware chain. */
export interface GatewayRequestState {
  route: ClassifiedRequest;
  /** Byte limit for this request's body. */
  bodyLimit: number;
  /** The tenant's overrides of the rate-limit tiers, when it has any. */
  rateLimits?: TenantRateLimits;
  /** SHA-256 of a body already parsed by a local route (admin JSON). */
  parsedBodySha256?: string;
  /** Set when an idempotent request wants the streamed body hashed on its way upstream. */
  hashBody?: boolean;
  /** Resolves when a streamed body has been read to its end (or given up on). */
  bodyDigest?: Promise<BodyDigest>;
  /** The streamed body went past the limit: the upstream request was cut. */
  bodyTooLarge?: boolean;
  /** Applied to a response before it is kept for idempotent replay (to leave secrets out). */
  redactStoredBody?: (body: Buffer) => Buffer;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      gateway?: GatewayRequestState;
    }
  }
}

/** The public path of a request, whatever router it is mounted under. */
export const publicPath = (req: Request): string => (req.originalUrl.split('?', 1)[0] ?? '/');

export function gatewayState(req: Request): GatewayRequestState {
  if (!req.gateway) throw new Error('gateway request state missing: classifyRequests must run first');
  return req.gateway;
}

/** First gateway middleware under /v1: classifies the request once for every later step. */
export function classifyRequests(bodyLimitFor: (route: ClassifiedRequest) => number) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const route = classifyRequest(req.method, publicPath(req));
    req.gateway = { route, bodyLimit: bodyLimitFor(route) };
    next();
  };
}
