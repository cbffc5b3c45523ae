import { createSecretKey, type KeyObject } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import jwt from 'jsonwebtoken';
import { AppError } from './errors';

export const IDENTITY_HEADER = 'x-tollgate-identity';
/**
 * Headers services trust as set by the gateway (or a peer service), never by a client: the
 * gateway removes them from every client request. A new header a service trusts that way goes
 * here; client options such as `x-tollgate-cache` pass through.
 */
export const INTERNAL_HEADERS: readonly string[] = [IDENTITY_HEADER];
const ISSUER = 'tollgate-gateway';
const AUDIENCE = 'tollgate-internal';

/** Who is calling, as the gateway (or a peer service) vouches for it. */
export interface Identity {
  tenantId: string;
  /** The API key id, or `jwt` / `admin` / a service name. */
  keyId: string;
  scopes: string[];
  /** The API key's model allow-list (aliases); absent: every model the tenant may use. */
  models?: string[];
  /** The API key's own tokens-per-minute limit, replacing the routing file's for this key. */
  tokensPerMinute?: number;
  /** The API key's spending budget per period (micro-credits), reserved by each call's hold. */
  budget?: KeyBudgetPolicy;
}

export interface KeyBudgetPolicy {
  amount: number;
  period: 'day' | 'week' | 'month';
}

const BUDGET_PERIODS: readonly string[] = ['day', 'week', 'month'];

/**
 * The secret as a KeyObject, made once per secret. Given a string, jsonwebtoken first tries to
 * parse it as a PEM key and builds an exception before falling back to an HMAC key, on every
 * sign and verify (a large share of a proxy's CPU); a KeyObject skips that. Same bytes, same tokens.
 */
const secretKeys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    if (secretKeys.size > 16) secretKeys.clear();
    secretKeys.set(secret, key);
  }
  return key;
}

export function signIdentity(identity: Identity, secret: string, ttlSeconds = 60): string {
  const claims: Record<string, unknown> = { scope: identity.scopes.join(' '), kid: identity.keyId };
  if (identity.models) claims['mdl'] = identity.models;
  if (identity.tokensPerMinute !== undefined) claims['tpm'] = identity.tokensPerMinute;
  if (identity.budget) claims['bdg'] = { amount: identity.budget.amount, period: identity.budget.period };
  return jwt.sign(claims, secretKey(secret), {
    algorithm: 'HS256',
    subject: identity.tenantId,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: ttlSeconds,
  });
}

export function verifyIdentity(token: string, secret: string): Identity {
  return verifyIdentityToken(token, secret).identity;
}

function verifyIdentityToken(token: string, secret: string): { identity: Identity; expiresAtMs: number } {
  try {
    const claims = jwt.verify(token, secretKey(secret), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, clockTolerance: 5 });
    if (typeof claims === 'string' || typeof claims.sub !== 'string') throw new Error('malformed identity claims');
    const scope = typeof claims['scope'] === 'string' ? claims['scope'] : '';
    const keyId = typeof claims['kid'] === 'string' ? claims['kid'] : 'unknown';
    const identity: Identity = { tenantId: claims.sub, keyId, scopes: scope.split(' ').filter(Boolean) };
    const models: unknown = claims['mdl'];
    if (Array.isArray(models)) identity.models = models.filter((m): m is string => typeof m === 'string');
    if (typeof claims['tpm'] === 'number') identity.tokensPerMinute = claims['tpm'];
    const budget = claims['bdg'] as { amount?: unknown; period?: unknown } | undefined;
    if (budget && typeof budget.amount === 'number' && typeof budget.period === 'string' && BUDGET_PERIODS.includes(budget.period))
      identity.budget = { amount: budget.amount, period: budget.period as KeyBudgetPolicy['period'] };
    return { identity, expiresAtMs: (claims.exp ?? 0) * 1000 };
  } catch {
    throw new AppError('UNAUTHENTICATED', 'Missing or invalid service identity');
  }
}

/** A token for service-to-service calls (`/internal/v1/...`), scope `service`. */
export function signServiceIdentity(serviceName: string, secret: string, tenantId = 'system', ttlSeconds = 60): string {
  return signIdentity({ tenantId, keyId: serviceName, scopes: ['service'] }, secret, ttlSeconds);
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      identity?: Identity;
    }
  }
}

/**
 * Verifies X-Tollgate-Identity when present; routes then use requireScope. The gateway reuses
 * one token per identity for half its lifetime, so a token verified once is remembered until it
 * expires (the same token string can only carry the same claims): one HMAC per identity and
 * minute instead of one per request on every hop.
 */
export function identityMiddleware(secret: string, options: { cacheMaxEntries?: number } = {}) {
  const maxEntries = options.cacheMaxEntries ?? 10_000;
  const verified = new Map<string, { identity: Identity; expiresAtMs: number }>();
  return (req: Request, _res: Response, next: NextFunction): void => {
    const header = req.headers[IDENTITY_HEADER];
    if (typeof header === 'string' && header.length > 0) {
      const known = verified.get(header);
      if (known && known.expiresAtMs > Date.now()) {
        req.identity = {
          ...known.identity,
          scopes: [...known.identity.scopes],
          ...(known.identity.models ? { models: [...known.identity.models] } : {}),
        };
      } else {
        const fresh = verifyIdentityToken(header, secret);
        if (verified.size >= maxEntries) verified.clear();
        verified.set(header, fresh);
        req.identity = {
          ...fresh.identity,
          scopes: [...fresh.identity.scopes],
          ...(fresh.identity.models ? { models: [...fresh.identity.models] } : {}),
        };
      }
    }
    next();
  };
}

export function hasScope(identity: Identity, scope: string): boolean {
  return identity.scopes.includes(scope) || (identity.scopes.includes('admin') && scope !== 'service');
}

/** 401 without an identity, 403 when none of the scopes is held. */
export function requireScope(...scopes: string[]) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const identity = req.identity;
    if (!identity) throw new AppError('UNAUTHENTICATED', 'A valid credential is required');
    if (scopes.length > 0 && !scopes.some((s) => hasScope(identity, s))) {
      throw new AppError('FORBIDDEN', `This credential lacks the required scope (${scopes.join(' or ')})`, {
        details: { required_scopes: scopes },
      });
    }
    next();
  };
}

/** The caller's tenant id; throws 401 when there is no identity. */
export function tenantOf(req: Request): string {
  if (!req.identity) throw new AppError('UNAUTHENTICATED', 'A valid credential is required');
  return req.identity.tenantId;
}
