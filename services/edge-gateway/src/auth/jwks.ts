import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Logger } from '@tollgate/common';

export interface JwksOptions {
  url: string;
  /** Keys are re-fetched after this long even if every kid is known. */
  cacheMs: number;
  /** Minimum time between two fetches triggered by an unknown kid. */
  cooldownMs: number;
  timeoutMs: number;
  logger: Logger;
  fetch?: typeof fetch;
  now?: () => number;
}

interface JwksKey {
  kid: string | undefined;
  key: KeyObject;
}

/**
 * The identity provider's signing keys (JWKS), cached. A token naming a kid we don't know
 * triggers a refresh (the IdP rotated keys), at most once per cool-down so made-up kids cannot
 * turn the gateway into a traffic amplifier. A failed refresh keeps the keys we had.
 */
export class JwksKeyStore {
  private keys: JwksKey[] = [];
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;

  constructor(private readonly options: JwksOptions) {
    this.fetchFn = options.fetch ?? fetch;
    this.now = options.now ?? Date.now;
  }

  /** The public key for `kid` (or the only key when the token names none). */
  async getKey(kid: string | undefined): Promise<KeyObject | undefined> {
    if (this.inflight) await this.inflight;
    // Both kinds of refresh respect the cool-down, so an unreachable IdP is not asked per request.
    const coolEnough = () => this.now() - this.lastAttemptAt >= this.options.cooldownMs;
    if (this.now() - this.fetchedAt > this.options.cacheMs && coolEnough()) await this.refresh();
    let found = this.find(kid);
    if (!found && coolEnough()) {
      await this.refresh();
      found = this.find(kid);
    }
    return found;
  }

  private find(kid: string | undefined): KeyObject | undefined {
    if (kid === undefined) return this.keys.length === 1 ? this.keys[0]!.key : undefined;
    return this.keys.find((k) => k.kid === kid)?.key;
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
      const res = await this.fetchFn(this.options.url, { signal: AbortSignal.timeout(this.options.timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
      const body = (await res.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error('JWKS has no "keys" array');
      const keys: JwksKey[] = [];
      for (const jwk of body.keys as (JsonWebKey & { kid?: unknown; use?: unknown })[]) {
        // Encryption keys and symmetric keys never verify client tokens.
        if (jwk.use === 'enc' || (jwk.kty !== 'RSA' && jwk.kty !== 'EC')) continue;
        try {
          keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, key: createPublicKey({ key: jwk, format: 'jwk' }) });
        } catch (err) {
          this.options.logger.warn('skipped an unusable JWKS key', { kid: jwk.kid, err: (err as Error).message });
        }
      }
      this.keys = keys;
      this.fetchedAt = this.now();
    } catch (err) {
      this.options.logger.warn('JWKS refresh failed; keeping the keys already known', { url: this.options.url, err: (err as Error).message });
    }
  }
}
