import { AppError, type Identity, type Logger } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { GatewayDb, TenantRateLimits } from '../db';
import { TtlCache } from '../keys/cache';
import { hashKey, isWellFormedKey, looksLikeApiKey } from '../keys/format';
import type { Invalidation } from '../keys/invalidation';
import { findCredentialByHash } from '../keys/repository';
import { findTenantRateLimits } from '../tenants/repository';
import type { GatewayMetrics } from '../metrics';
import { JwtRejected, type JwtVerifier, looksLikeJwt } from './jwt';

/** Scopes a client credential can carry through the gateway; anything else (e.g. `service`) is dropped. */
const PUBLIC_SCOPES = new Set(['read', 'write', 'completion', 'generation', 'admin']);

export interface ResolvedCredential {
  identity: Identity;
  rateLimits: TenantRateLimits | undefined;
}

type CachedKey =
  { found: false } | { found: true; identity: Identity; expiresAt: number | null; revoked: boolean; keyRateLimits: TenantRateLimits };

/** A key's own tiers over its tenant's; undefined when neither has any. */
function mergeLimits(tenant: TenantRateLimits | null | undefined, key: TenantRateLimits): TenantRateLimits | undefined {
  const merged = { ...(tenant ?? {}), ...key };
  return Object.keys(merged).length ? merged : undefined;
}

/** Verified JWTs are remembered (by their exact text) so a repeat costs no signature check. */
const JWT_MEMO_MS = 5 * 60_000;

export interface CredentialResolverOptions {
  db: Kysely<GatewayDb>;
  verifyJwt: JwtVerifier | undefined;
  logger: Logger;
  metrics: GatewayMetrics;
  cacheTtlMs: number;
  cacheMaxEntries: number;
  /** False while cross-replica invalidation is down: then every lookup reads the database. */
  cacheIsTrustworthy: () => boolean;
  now?: () => number;
}

const unauthenticated = (reason: string, message: string) => new AppError('UNAUTHENTICATED', message, { details: { reason } });

/**
 * Turns a bearer credential (API key or JWT) into an identity. Key lookups are cached per
 * replica by key hash; revocations and tenant changes evict entries on every replica through
 * `invalidate` (driven by Redis pub/sub). Unknown keys are cached briefly too, so guessing is
 * not a database load.
 */
export function createCredentialResolver(options: CredentialResolverOptions) {
  const now = options.now ?? Date.now;
  const keys = new TtlCache<CachedKey>(options.cacheTtlMs, options.cacheMaxEntries, now);
  const tenantLimits = new TtlCache<TenantRateLimits | null>(options.cacheTtlMs, options.cacheMaxEntries, now);
  const negativeTtlMs = Math.min(options.cacheTtlMs, 10_000);
  const verifiedJwts = new TtlCache<{ identity: Identity; validUntil: number }>(JWT_MEMO_MS, options.cacheMaxEntries, now);

  const fail = (reason: string, message: string): never => {
    options.metrics.authFailures.inc({ reason });
    throw unauthenticated(reason, message);
  };

  const storageUnavailable = (err: unknown): never => {
    throw new AppError('SERVICE_UNAVAILABLE', 'Credentials cannot be checked right now', { cause: err, headers: { 'Retry-After': '1' } });
  };

  async function lookupKey(hash: string): Promise<CachedKey> {
    const useCache = options.cacheIsTrustworthy();
    const cached = useCache ? keys.get(hash) : undefined;
    if (cached) return cached;
    const row = await findCredentialByHash(options.db, hash).catch(storageUnavailable);
    if (!row) {
      const miss: CachedKey = { found: false };
      if (useCache) keys.set(hash, miss, negativeTtlMs);
      return miss;
    }
    const identity: Identity = { tenantId: row.tenant_id, keyId: row.id, scopes: row.scopes };
    if (row.allowed_models) identity.models = row.allowed_models;
    if (row.tokens_per_minute !== null) identity.tokensPerMinute = row.tokens_per_minute;
    if (row.budget) identity.budget = { amount: row.budget.amount, period: row.budget.period };
    // A rotated-out secret works until its grace ends (or the key's own expiry, if sooner).
    const ends = [row.expires_at?.getTime(), row.previous_until?.getTime()].filter((t): t is number => t !== undefined);
    const entry: CachedKey = {
      found: true,
      identity,
      expiresAt: ends.length ? Math.min(...ends) : null,
      revoked: row.revoked_at !== null,
      keyRateLimits: row.key_rate_limits,
    };
    if (useCache) {
      keys.set(hash, entry);
      tenantLimits.set(row.tenant_id, row.rate_limits);
    }
    return entry;
  }

  async function limitsOfTenant(tenantId: string): Promise<TenantRateLimits | undefined> {
    const useCache = options.cacheIsTrustworthy();
    const cached = useCache ? tenantLimits.get(tenantId) : undefined;
    if (cached !== undefined) return cached ?? undefined;
    const limits = await findTenantRateLimits(options.db, tenantId).catch(storageUnavailable);
    if (useCache) tenantLimits.set(tenantId, limits ?? null);
    return limits;
  }

  async function resolveApiKey(token: string): Promise<ResolvedCredential> {
    if (!isWellFormedKey(token)) return fail('malformed', 'The API key is malformed');
    const entry = await lookupKey(hashKey(token));
    if (!entry.found) return fail('unknown', 'The API key is not valid');
    if (entry.revoked) return fail('revoked', 'The API key has been revoked');
    if (entry.expiresAt !== null && entry.expiresAt <= now()) return fail('expired', 'The API key has expired');
    return { identity: entry.identity, rateLimits: mergeLimits(await limitsOfTenant(entry.identity.tenantId), entry.keyRateLimits) };
  }

  async function resolveJwt(token: string): Promise<ResolvedCredential> {
    if (!options.verifyJwt) return fail('unsupported', 'JWT authentication is not configured');
    let verified;
    try {
      verified = await options.verifyJwt(token);
    } catch (err) {
      if (err instanceof JwtRejected) return fail(`jwt_${err.reason}`, err.message);
      throw err;
    }
    const scopes = verified.scopes.filter((s) => PUBLIC_SCOPES.has(s));
    const identity: Identity = { tenantId: verified.subject, keyId: 'jwt', scopes };
    verifiedJwts.set(token, { identity, validUntil: verified.validUntil }, Math.min(JWT_MEMO_MS, verified.validUntil - now()));
    return { identity, rateLimits: scopes.includes('admin') ? undefined : await limitsOfTenant(verified.subject) };
  }

  /** Limits from the cache only: `null` when the tenant has none, undefined when not cached. */
  function cachedLimits(identity: Identity): TenantRateLimits | null | undefined {
    if (identity.scopes.includes('admin') && identity.keyId === 'jwt') return null;
    return tenantLimits.get(identity.tenantId);
  }

  return {
    /**
     * The fast path: a credential already known to be valid, answered from this replica's
     * caches without I/O; undefined means "not known yet" (not "invalid"), so callers fall back
     * to `resolve`. Requests answered here skip the pre-authentication IP limit.
     */
    cached(token: string): ResolvedCredential | undefined {
      if (!options.cacheIsTrustworthy()) return undefined;
      let identity: Identity | undefined;
      let keyLimits: TenantRateLimits = {};
      if (looksLikeApiKey(token)) {
        if (!isWellFormedKey(token)) return undefined;
        const entry = keys.get(hashKey(token));
        if (!entry?.found || entry.revoked || (entry.expiresAt !== null && entry.expiresAt <= now())) return undefined;
        identity = entry.identity;
        keyLimits = entry.keyRateLimits;
      } else {
        const memo = verifiedJwts.get(token);
        if (!memo || memo.validUntil <= now()) return undefined;
        identity = memo.identity;
      }
      const limits = cachedLimits(identity);
      if (limits === undefined) return undefined;
      return { identity, rateLimits: mergeLimits(limits, keyLimits) };
    },
    async resolve(token: string): Promise<ResolvedCredential> {
      if (looksLikeApiKey(token)) return resolveApiKey(token);
      if (looksLikeJwt(token)) return resolveJwt(token);
      return fail('unknown', 'The credential is not a Tollgate API key or a JWT');
    },
    /** Applies a change announced by any replica (this one included). */
    invalidate(message: Invalidation): void {
      if (message.type === 'key') keys.delete(message.hash);
      else tenantLimits.delete(message.id);
    },
    clear(): void {
      keys.clear();
      tenantLimits.clear();
      verifiedJwts.clear();
    },
  };
}

export type CredentialResolver = ReturnType<typeof createCredentialResolver>;
