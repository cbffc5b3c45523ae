import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '@tollgate/common';

export interface JwksOptions {
  url: string;
  /** Keys are re-fetched after this long even if every kid is known. */
  cacheMs: number;
  /** Minimum time between two fetches (of either kind), successful or not. */
  cooldownMs: number;
  timeoutMs: number;
  logger: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

/** Arguments of jose's key-resolver function: the token's protected header and the token. */
type KeyLookup = Parameters<JWTVerifyGetKey>;
type LocalJwks = ReturnType<typeof createLocalJWKSet>;
/** The verification key jose imported from the JWKS. */
type VerificationKey = Awaited<ReturnType<LocalJwks>>;

const NO_MATCHING_KEY = 'ERR_JWKS_NO_MATCHING_KEY';

/**
 * The identity provider's signing keys (JWKS), cached. Which key verifies a token is jose's
 * `createLocalJWKSet` matching (kid, alg, kty, crv, use, key_ops; several candidates are each
 * tried); the fetching and caching is ours, because jose's `createRemoteJWKSet` differs where it
 * matters here: its cool-down counts from the last *successful* fetch, so an unreachable IdP is
 * asked again on every request once the cache is stale, and a failed refresh fails the request
 * instead of keeping the keys we had.
 *
 * A token naming a kid we don't know triggers a refresh (the IdP rotated keys), at most once per
 * cool-down so made-up kids cannot turn the gateway into a traffic amplifier. A failed refresh
 * keeps the keys we had.
 */
export class JwksKeyStore {
  private keys: LocalJwks | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly options: JwksOptions) {
    this.fetchFn = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
  }

  /** jose's key resolver for `jwtVerify`: rejects with JWKSNoMatchingKey when no published key fits. */
  readonly getKey = async (...[header, token]: KeyLookup): Promise<VerificationKey> => {
    if (this.inflight) await this.inflight;
    // Both kinds of refresh respect the cool-down, so an unreachable IdP is not asked per request.
    const coolEnough = () => this.now() - this.lastAttemptAt >= this.options.cooldownMs;
    if (this.now() - this.fetchedAt > this.options.cacheMs && coolEnough()) await this.refresh();
    try {
      return await this.match(header, token);
    } catch (err) {
      if ((err as { code?: unknown }).code !== NO_MATCHING_KEY || !coolEnough()) throw err;
    }
    await this.refresh();
    return this.match(header, token);
  };

  private async match(...[header, token]: KeyLookup): Promise<VerificationKey> {
    if (!this.keys) throw Object.assign(new Error('no JWKS keys yet'), { code: NO_MATCHING_KEY });
    return this.keys(header, token);
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    this.lastAttemptAt = this.now();
    try {
      const res = await this.fetchFn(this.options.url, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error('JWKS has no "keys" array');
      const keys: JWK[] = [];
      for (const jwk of body.keys as (JsonWebKey & { kid?: unknown; use?: unknown; alg?: unknown; key_ops?: unknown })[]) {
        // Encryption keys and symmetric keys never verify client tokens.
        if (jwk.use === 'enc' || (jwk.kty !== 'RSA' && jwk.kty !== 'EC')) continue;
        try {
          // Only the public part goes on (a private member published by mistake is dropped), and a
          // key Node cannot read is skipped here rather than failing every token that names it.
          const publicJwk = createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'jwk' }) as JWK;
          keys.push({
            ...publicJwk,
            ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}),
            ...(typeof jwk.alg === 'string' ? { alg: jwk.alg } : {}),
            ...(typeof jwk.use === 'string' ? { use: jwk.use } : {}),
            ...(Array.isArray(jwk.key_ops) ? { key_ops: jwk.key_ops as string[] } : {}),
          });
        } catch (err) {
          this.options.logger.warn('skipped an unusable JWKS key', { kid: jwk.kid, err: (err as Error).message });
        }
      }
      this.keys = createLocalJWKSet({ keys });
      this.fetchedAt = this.now();
    } catch (err) {
      this.options.logger.warn('JWKS refresh failed; keeping the keys already known', {
        url: this.options.url,
        err: (err as Error).message,
      });
    }
  }
}
