import type { NextFunction, Request, Response } from 'express';
import { AppError } from '@tollgate/common';
import type { TenantRateLimits } from './db';
import { type ClassifiedRequest, classifyRequest } from './proxy/routes';
import { canonicalTarget } from './proxy/target';
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
  /** Set for a proxied admin action: its (small) body is kept for the audit log. */
  keepBody?: boolean;
  /** Resolves when a streamed body has been read to its end (or given up on). */
  bodyDigest?: Promise<BodyDigest>;
  /** The streamed body went past the limit: the upstream request was cut. */
  bodyTooLarge?: boolean;
  /** Set by authorize: only then may the request be proxied. */
  authorized?: boolean;
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

/** The public path of a request (canonical once routeRequests ran), whatever router it is mounted under. */
export const publicPath = (req: Request): string => req.gateway?.route.path ?? (req.originalUrl.split('?', 1)[0] ?? '/');

export function gatewayState(req: Request): GatewayRequestState {
  if (!req.gateway) throw new Error('gateway request state missing: routeRequests must run first');
  return req.gateway;
}

/**
 * The gateway's first step for every request: the target is reduced to its canonical spelling
 * (case of the route's literals, slashes, dot segments, escapes, absolute form), classified
 * from the route table, and req.url is rewritten to it, so Express, the limits and the upstream
 * all see one path. A path no route has carries its 404 / 405, answered once the caller is
 * authenticated (the table is not for anonymous probing).
 */
/** First step of the /v1 chain: a target that was not routed as /v1 (say `/v1/..`) is no /v1 request. */
export function requireRouted(req: Request, _res: Response, next: NextFunction): void {
  if (!req.gateway) throw new AppError('NOT_FOUND', `No route for ${req.method} ${req.originalUrl.split('?', 1)[0]!.slice(0, 200)}`, { details: { reason: 'no_route' } });
  next();
}

export function routeRequests(bodyLimitFor: (route: ClassifiedRequest) => number) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const target = canonicalTarget(req.url);
    // Only /v1 is the gateway's to judge; the rest (docs, health) is left as Express serves it.
    if (target.segments[0]?.toLowerCase() !== 'v1') {
      next();
      return;
    }
    const route = classifyRequest(req.method, target);
    req.gateway = { route, bodyLimit: bodyLimitFor(route), ...(route.redactStoredBody ? { redactStoredBody: route.redactStoredBody } : {}) };
    req.originalUrl = target.query === undefined ? route.path : `${route.path}?${target.query}`;
    // Express's router noted the absolute form's `scheme://host` before this ran and slices it
    // off again for each mount: it stays in front (proxying uses only the path).
    req.url = `${target.origin}${req.originalUrl}`;
    next();
  };
}
