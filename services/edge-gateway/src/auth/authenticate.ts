import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { AppError, currentContext, hasScope, type Identity, IDENTITY_HEADER, signIdentity } from '@tollgate/common';
import type { TenantRateLimits } from '../db';
import type { GatewayMetrics } from '../metrics';
import { gatewayState } from '../request-state';
import type { CredentialResolver } from './credentials';

export interface AuthOptions {
  adminToken: string;
  internalSecret: string;
  identityTtlS: number;
  resolver: CredentialResolver;
  metrics: GatewayMetrics;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison of two secrets of any length. */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match)
    throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <credential>"', { details: { reason: 'malformed' } });
  return match[1];
}

export const ADMIN_IDENTITY: Identity = Object.freeze({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }) as Identity;
export const isAdminToken = (identity: Identity | undefined) =>
  identity?.keyId === ADMIN_IDENTITY.keyId && identity.tenantId === ADMIN_IDENTITY.tenantId;

/**
 * Signing an identity token costs as much as the rest of the auth path, so each identity's token
 * is reused for the first half of its lifetime (services accept it for the whole of it).
 */
function createIdentitySigner(secret: string, ttlS: number, maxEntries = 10_000) {
  const tokens = new Map<string, { token: string; renewAt: number }>();
  return (identity: Identity): string => {
    const cacheKey = `${identity.tenantId}\u0000${identity.keyId}\u0000${identity.scopes.join(' ')}\u0000${identity.models?.join('\u0001') ?? '*'}\u0000${identity.tokensPerMinute ?? ''}\u0000${identity.budget ? `${identity.budget.amount}/${identity.budget.period}` : ''}`;
    const now = Date.now();
    const cached = tokens.get(cacheKey);
    if (cached && cached.renewAt > now) return cached.token;
    const token = signIdentity(identity, secret, ttlS);
    if (tokens.size >= maxEntries) tokens.clear();
    tokens.set(cacheKey, { token, renewAt: now + (ttlS * 1000) / 2 });
    return token;
  };
}

const BEARER = Symbol('bearer');
type AuthRequest = Request & { [BEARER]?: string };

/**
 * Authentication in two steps around the pre-authentication IP limit:
 * - `recognise` answers from memory: the ADMIN_TOKEN, or a key / JWT this replica already knows
 *   to be valid. Those requests are authenticated and skip the IP limit (the per-key limit
 *   applies to them).
 * - `authenticate` resolves anything else (database, JWT signature), after the IP limit, so
 *   guessing keys costs an attacker their address's budget before it costs us a query.
 * Either way the identity reaches the upstream as a signed X-Tollgate-Identity; the client's
 * own Authorization header is not forwarded (services trust only the identity token).
 */
export function createAuthentication(options: AuthOptions) {
  const adminDigest = digest(options.adminToken);
  const sign = createIdentitySigner(options.internalSecret, options.identityTtlS);

  const accept = (req: Request, identity: Identity, rateLimits: TenantRateLimits | undefined) => {
    req.identity = identity;
    if (rateLimits) gatewayState(req).rateLimits = rateLimits;
    const context = currentContext();
    if (context) context.tenantId = identity.tenantId;
    delete req.headers.authorization;
    req.headers[IDENTITY_HEADER] = sign(identity);
  };

  const recognise = (req: Request, _res: Response, next: NextFunction): void => {
    const token = bearerToken(req);
    if (token) {
      (req as AuthRequest)[BEARER] = token;
      if (timingSafeEqual(digest(token), adminDigest)) accept(req, ADMIN_IDENTITY, undefined);
      else {
        const known = options.resolver.cached(token);
        if (known) accept(req, known.identity, known.rateLimits);
      }
    }
    next();
  };

  const authenticate = async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
    if (!req.identity) {
      const token = (req as AuthRequest)[BEARER];
      if (!token) {
        options.metrics.authFailures.inc({ reason: 'missing' });
        throw new AppError('UNAUTHENTICATED', 'A credential is required: Authorization: Bearer <api key or token>', {
          details: { reason: 'missing' },
        });
      }
      const resolved = await options.resolver.resolve(token);
      accept(req, resolved.identity, resolved.rateLimits);
    }
    next();
  };

  return { recognise, authenticate };
}

/**
 * 403 unless the credential holds the scope of the route's class (`admin` under /v1/admin); a
 * path no route serves is answered here, to authenticated callers only.
 */
export function authorize(req: Request, _res: Response, next: NextFunction): void {
  const { route } = gatewayState(req);
  const identity = req.identity;
  if (!identity) throw new AppError('UNAUTHENTICATED', 'A valid credential is required');
  if (route.unrouted) throw route.unrouted;
  if (!hasScope(identity, route.scope)) {
    throw new AppError('FORBIDDEN', `This credential lacks the "${route.scope}" scope needed for ${req.method} ${route.path}`, {
      details: { required_scope: route.scope },
    });
  }
  gatewayState(req).authorized = true;
  next();
}
