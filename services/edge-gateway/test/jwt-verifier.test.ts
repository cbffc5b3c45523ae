import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { captureLogger } from '@tollgate/testkit';
import { JwksKeyStore } from '../src/auth/jwks';
import { createJwtVerifier, JwtRejected } from '../src/auth/jwt';
import type { JwtAlgorithm } from '../src/config';

/**
 * The verifier (jose's jwtVerify over our JwksKeyStore, which matches keys with jose's
 * createLocalJWKSet) without a gateway around it: the reasons it gives, the allow-list, and the
 * JWKS cache, cool-down and timeout settings doing what they say.
 */

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwkOf = (key: KeyObject, kid: string | undefined, alg: string | undefined) => ({
  ...key.export({ format: 'jwk' }),
  ...(kid ? { kid } : {}),
  ...(alg ? { alg } : {}),
  use: 'sig',
});
const SECRET = 'verifier-test-secret-0123456789';
const nowS = () => Math.floor(Date.now() / 1000);

/** A JWKS endpoint as a fetch function: counts calls; `answer` decides each one. */
function fakeJwks(initial: Record<string, unknown>[]) {
  const state = {
    keys: initial,
    calls: 0,
    answer: 'ok' as 'ok' | 'error' | 'hang',
  };
  const fetchFn = (async (_url: string | URL | Request, init?: RequestInit) => {
    state.calls++;
    if (state.answer === 'error') return new Response('down', { status: 503 });
    if (state.answer === 'hang') {
      const signal = init?.signal;
      return new Promise<Response>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason as Error));
      });
    }
    return Response.json({ keys: state.keys });
  }) as typeof fetch;
  return { state, fetchFn };
}

function setup(options: {
  keys: Record<string, unknown>[];
  algorithms?: JwtAlgorithm[];
  cacheMs?: number;
  cooldownMs?: number;
  timeoutMs?: number;
}) {
  const clock = { now: 1_000_000 };
  const { state, fetchFn } = fakeJwks(options.keys);
  const { logger, lines } = captureLogger('jwks-test');
  const jwks = new JwksKeyStore({
    url: 'https://idp.example/.well-known/jwks.json',
    cacheMs: options.cacheMs ?? 600_000,
    cooldownMs: options.cooldownMs ?? 30_000,
    timeoutMs: options.timeoutMs ?? 3_000,
    logger,
    fetch: fetchFn,
    now: () => clock.now,
  });
  const verify = createJwtVerifier({
    secret: SECRET,
    jwks,
    algorithms: options.algorithms ?? ['HS256', 'RS256', 'ES256'],
    issuer: 'https://idp.example',
    audience: 'tollgate',
    clockSkewS: 30,
  });
  return { verify, state, clock, lines };
}

const claims = (extra: Record<string, unknown> = {}) => ({
  sub: 'ten_v',
  scope: 'read',
  iss: 'https://idp.example',
  aud: 'tollgate',
  exp: nowS() + 60,
  ...extra,
});
const rs = (extra: Record<string, unknown> = {}, options: jwt.SignOptions = {}, key = rsa.privateKey) =>
  jwt.sign(claims(extra), key, { algorithm: 'RS256', keyid: 'rsa-1', ...options });
const hs = (extra: Record<string, unknown> = {}) => jwt.sign(claims(extra), SECRET, { algorithm: 'HS256' });

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    if (err instanceof JwtRejected) return err.reason;
    throw err;
  }
}

describe('JWT verifier (jose)', () => {
  it('accepts RS256, ES256 and HS256; sub is the subject, scope the scopes, validUntil is exp plus the skew', async () => {
    const { verify } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256'), jwkOf(ec.publicKey, 'ec-1', 'ES256')] });
    const exp = nowS() + 60;
    expect(await verify(rs({ exp, scope: 'read completion' }))).toEqual({
      subject: 'ten_v',
      scopes: ['read', 'completion'],
      validUntil: (exp + 30) * 1000,
    });
    const es = jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256', keyid: 'ec-1' });
    expect((await verify(es)).subject).toBe('ten_v');
    expect((await verify(hs({ scope: ['read', 'write', 7] }))).scopes).toEqual(['read', 'write']);
  });

  it('gives each refusal its reason', async () => {
    const { verify } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')] });
    const cases: [string, string | Promise<unknown>, string][] = [
      ['not a JWT', verify('abc.def.ghi'), 'malformed'],
      [
        'alg none',
        verify(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`),
        'algorithm',
      ],
      ['an algorithm not on the list', verify(jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS384', keyid: 'rsa-1' })), 'algorithm'],
      ['expired beyond the skew', verify(rs({ exp: nowS() - 120 })), 'expired'],
      ['not valid yet', verify(rs({ nbf: nowS() + 120 })), 'invalid'],
      [
        'no exp',
        verify(
          jwt.sign({ sub: 'ten_v', iss: 'https://idp.example', aud: 'tollgate' }, rsa.privateKey, { algorithm: 'RS256', keyid: 'rsa-1' }),
        ),
        'invalid',
      ],
      ['wrong issuer', verify(rs({ iss: 'https://evil.example' })), 'invalid'],
      ['wrong audience', verify(rs({ aud: 'other' })), 'invalid'],
      ['wrong signature', verify(rs({}, {}, rsaOther.privateKey)), 'invalid'],
      ['HS256 with another secret', verify(jwt.sign(claims(), 'another-secret-0123456789abcdef', { algorithm: 'HS256' })), 'invalid'],
      ['a subject that is not a tenant id', verify(rs({ sub: 'not a tenant!' })), 'invalid'],
      ['an unknown kid', verify(rs({}, { keyid: 'nobody' })), 'unknown_key'],
    ];
    const seen = await Promise.all(cases.map(async ([label, p, _]) => [label, await reasonOf(p as Promise<unknown>)]));
    expect(seen).toEqual(cases.map(([label, , reason]) => [label, reason]));
    // Within the skew: accepted.
    expect(await reasonOf(verify(rs({ exp: nowS() - 10 })))).toBe('accepted');
    expect(await reasonOf(verify(rs({ nbf: nowS() + 10 })))).toBe('accepted');
  });

  it('uses a published key only for its own algorithm and kind (jose JWKS matching)', async () => {
    const { verify } = setup({
      keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256'), jwkOf(ec.publicKey, 'ec-1', 'ES256')],
      algorithms: ['RS256', 'RS512', 'ES256'],
    });
    // The RSA key is published for RS256: an RS512 token naming it finds no key.
    expect(await reasonOf(verify(jwt.sign(claims(), rsa.privateKey, { algorithm: 'RS512', keyid: 'rsa-1' })))).toBe('unknown_key');
    // An ES256 token naming the RSA key's kid finds no key either.
    expect(await reasonOf(verify(jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256', keyid: 'rsa-1' })))).toBe('unknown_key');
    // Without a kid, the one key of the token's kind is used.
    expect(await reasonOf(verify(jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256' })))).toBe('accepted');
  });

  it('skips encryption, symmetric and unreadable keys, and uses only the public part of a key published with its private part', async () => {
    const { verify, lines } = setup({
      keys: [
        { kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'hmac', alg: 'HS256' },
        { ...jwkOf(rsaOther.publicKey, 'enc-1', 'RSA-OAEP'), use: 'enc' },
        { kty: 'EC', crv: 'P-256', kid: 'broken', x: 'AAAA', y: 'AAAA' },
        { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      ],
    });
    expect(await reasonOf(verify(rs()))).toBe('accepted');
    expect(lines.some((l) => l['message'] === 'skipped an unusable JWKS key' && l['kid'] === 'broken')).toBe(true);
  });
});

describe('JWKS cache, cool-down and timeout (JWKS_CACHE_MS, JWKS_COOLDOWN_MS, JWKS_TIMEOUT_MS)', () => {
  it('serves known keys from the cache until JWKS_CACHE_MS, then fetches again', async () => {
    const { verify, state, clock } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')], cacheMs: 60_000, cooldownMs: 1_000 });
    await verify(rs());
    await verify(rs());
    expect(state.calls).toBe(1);
    clock.now += 59_000;
    await verify(rs());
    expect(state.calls).toBe(1);
    clock.now += 2_000;
    await verify(rs());
    expect(state.calls).toBe(2);
  });

  it('fetches for an unknown kid at most once per JWKS_COOLDOWN_MS, and accepts a rotated key after it', async () => {
    const { verify, state, clock } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')], cooldownMs: 5_000 });
    await verify(rs());
    expect(state.calls).toBe(1);
    const rotated = rs({}, { keyid: 'rsa-2' }, rsaOther.privateKey);
    clock.now += 5_000;
    expect(await reasonOf(verify(rotated))).toBe('unknown_key');
    expect(state.calls).toBe(2);
    for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) expect(await reasonOf(verify(rs({}, { keyid: kid })))).toBe('unknown_key');
    expect(state.calls).toBe(2);
    state.keys = [...state.keys, jwkOf(rsaOther.publicKey, 'rsa-2', 'RS256')];
    clock.now += 5_000;
    expect(await reasonOf(verify(rotated))).toBe('accepted');
    expect(state.calls).toBe(3);
  });

  it('keeps the keys it had when a refresh fails, and does not ask a failing IdP again within the cool-down', async () => {
    const { verify, state, clock, lines } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')], cacheMs: 10_000, cooldownMs: 5_000 });
    await verify(rs());
    state.answer = 'error';
    clock.now += 11_000; // stale
    expect(await reasonOf(verify(rs()))).toBe('accepted');
    expect(state.calls).toBe(2);
    expect(lines.some((l) => l['message'] === 'JWKS refresh failed; keeping the keys already known')).toBe(true);
    // Still stale, but the last attempt is within the cool-down: no new fetch, per request or per unknown kid.
    for (let i = 0; i < 5; i++) expect(await reasonOf(verify(rs()))).toBe('accepted');
    expect(await reasonOf(verify(rs({}, { keyid: 'rsa-9' })))).toBe('unknown_key');
    expect(state.calls).toBe(2);
    clock.now += 5_000;
    await verify(rs());
    expect(state.calls).toBe(3);
  });

  it('gives up on a JWKS endpoint that does not answer after JWKS_TIMEOUT_MS, keeping the keys it had', async () => {
    const { verify, state, clock } = setup({
      keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')],
      cacheMs: 10_000,
      cooldownMs: 1_000,
      timeoutMs: 150,
    });
    await verify(rs());
    state.answer = 'hang';
    clock.now += 11_000;
    const started = Date.now();
    expect(await reasonOf(verify(rs()))).toBe('accepted');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(100);
    expect(waited).toBeLessThan(2_000);
    expect(state.calls).toBe(2);
  });

  it('shares one fetch among concurrent verifications', async () => {
    const { verify, state } = setup({ keys: [jwkOf(rsa.publicKey, 'rsa-1', 'RS256')] });
    const results = await Promise.all(Array.from({ length: 10 }, () => reasonOf(verify(rs()))));
    expect(results).toEqual(Array(10).fill('accepted'));
    expect(state.calls).toBe(1);
  });
});
