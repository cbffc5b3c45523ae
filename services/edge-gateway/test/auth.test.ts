import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { verifyIdentity } from '@tollgate/common';
import { createTestEnv, identityHeaders, listen, type Listening, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import { generateKey } from '../src/keys/format';
import { migrations } from '../src/migrations';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

const JWT_SECRET = 'test-jwt-secret-0123456789abcdef';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let jwksGw: RunningGateway;
let jwksServer: Listening;
let jwksFetches = 0;
let jwksKeys: Record<string, unknown>[] = [];

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaNext = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwkOf = (key: KeyObject, kid: string, alg: string) => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' });

beforeAll(async () => {
  env = await createTestEnv('gw_auth');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  jwksKeys = [jwkOf(rsa.publicKey, 'rsa-1', 'RS256'), jwkOf(ec.publicKey, 'ec-1', 'ES256')];
  jwksServer = await listen((_req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: jwksKeys }));
  });
  gw = await startGateway(env, upstream.url, { JWT_SECRET, JWT_CLOCK_SKEW_S: '30' });
  jwksGw = await startGateway(env, upstream.url, {
    JWT_JWKS_URL: `${jwksServer.url}/.well-known/jwks.json`,
    JWT_ISSUER: 'https://idp.example',
    JWT_AUDIENCE: 'tollgate',
    JWKS_COOLDOWN_MS: '300',
  });
});

afterAll(async () => {
  await gw?.close();
  await jwksGw?.close();
  await jwksServer?.close();
  await upstream?.close();
  await env?.cleanup();
});

const hsToken = (claims: Record<string, unknown>, options: jwt.SignOptions = {}) =>
  jwt.sign({ sub: 'ten_jwt_tenant', scope: 'read completion', exp: inAMinute(), ...claims }, JWT_SECRET, { algorithm: 'HS256', ...options });
const rsToken = (claims: Record<string, unknown> = {}, key = rsa.privateKey, kid = 'rsa-1') =>
  jwt.sign({ sub: 'ten_rs', scope: 'read', iss: 'https://idp.example', aud: 'tollgate', exp: inAMinute(), ...claims }, key, { algorithm: 'RS256', keyid: kid });

async function expect401(url: string, headers: Record<string, string>, reason?: string) {
  const res = await request(url).get('/v1/models').set(headers);
  expect(res.status).toBe(401);
  // /v1/models is OpenAI-compatible: OpenAI's error shape.
  expect(res.body.error.type).toBe('authentication_error');
  if (reason) expect(res.body.error.code).toBe('unauthenticated');
  return res;
}

describe('API keys', () => {
  it('401 for missing, malformed, unknown, revoked and expired keys', async () => {
    const before = upstream.requests.length;
    await expect401(gw.url, {});
    await expect401(gw.url, { Authorization: 'Basic dXNlcjpwYXNz' });
    await expect401(gw.url, bearer('tg_short'));
    const { key, keyId } = await createTenantWithKey(gw.url);
    await expect401(gw.url, bearer(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`));
    await expect401(gw.url, bearer(generateKey().key)); // well-formed, never issued
    await expect401(gw.url, bearer('not-a-credential'));

    expect((await request(gw.url).get('/v1/models').set(bearer(key))).status).toBe(200);
    await request(gw.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    const revoked = await expect401(gw.url, bearer(key));
    expect(revoked.body.error.message).toMatch(/revoked/);

    const expiring = await createTenantWithKey(gw.url);
    await env.db.updateTable('api_keys').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expiring.keyId).execute();
    const expired = await expect401(gw.url, bearer(expiring.key));
    expect(expired.body.error.message).toMatch(/expired/);
    // Exactly one of these reached the upstream: the one valid call.
    expect(upstream.requests.length - before).toBe(1);
  });

  it('envelope shape on non-OpenAI routes', async () => {
    const res = await request(gw.url).get('/v1/credits/balance');
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'UNAUTHENTICATED', request_id: expect.any(String) });
  });

  it('hands the upstream a signed identity, never the client credential or its identity headers', async () => {
    const { key, tenantId, keyId } = await createTenantWithKey(gw.url);
    const spoofed = identityHeaders('ten_someone_else', ['admin']);
    const res = await request(gw.url)
      .get('/v1/credits/balance')
      .set(bearer(key))
      .set(spoofed)
      .set('X-Request-ID', 'req-abcdef123456');
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.headers['authorization']).toBeUndefined();
    expect(verifyIdentity(String(seen.headers['x-tollgate-identity']), TEST_INTERNAL_SECRET)).toEqual({
      tenantId,
      keyId,
      scopes: ['read', 'write', 'completion', 'generation'],
    });
    expect(seen.headers['x-request-id']).toBe('req-abcdef123456');
    expect(String(seen.headers['traceparent'])).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(res.headers['x-request-id']).toBe('req-abcdef123456');
  });
});

describe('JWT (HS256)', () => {
  it('accepts a valid token: sub is the tenant, scope the scopes', async () => {
    const res = await request(gw.url).get('/v1/models').set(bearer(hsToken({})));
    expect(res.status).toBe(200);
    const identity = verifyIdentity(String(upstream.requests.at(-1)!.headers['x-tollgate-identity']), TEST_INTERNAL_SECRET);
    expect(identity).toEqual({ tenantId: 'ten_jwt_tenant', keyId: 'jwt', scopes: ['read', 'completion'] });
  });

  it('drops scopes a client may not claim (service)', async () => {
    await request(gw.url).get('/v1/models').set(bearer(hsToken({ scope: 'read service' }))).expect(200);
    const identity = verifyIdentity(String(upstream.requests.at(-1)!.headers['x-tollgate-identity']), TEST_INTERNAL_SECRET);
    expect(identity.scopes).toEqual(['read']);
  });

  it('401 for alg none, a wrong signature, expiry, nbf, and a missing exp', async () => {
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'ten_x', scope: 'admin', exp: inAMinute() })}.`;
    await expect401(gw.url, bearer(unsigned));
    await expect401(gw.url, bearer(jwt.sign({ sub: 'ten_x', scope: 'read', exp: inAMinute() }, 'some-other-secret-0123456789', { algorithm: 'HS256' })));
    const valid = hsToken({});
    const [h, p] = valid.split('.');
    await expect401(gw.url, bearer(`${h}.${b64url({ sub: 'ten_x', scope: 'admin', exp: inAMinute() })}.${valid.split('.')[2]}`));
    void p;
    await expect401(gw.url, bearer(hsToken({ exp: Math.floor(Date.now() / 1000) - 120 })));
    await expect401(gw.url, bearer(hsToken({ nbf: Math.floor(Date.now() / 1000) + 120 })));
    await expect401(gw.url, bearer(jwt.sign({ sub: 'ten_x', scope: 'read' }, JWT_SECRET, { algorithm: 'HS256' })));
  });

  it('tolerates clock skew within JWT_CLOCK_SKEW_S', async () => {
    await request(gw.url).get('/v1/models').set(bearer(hsToken({ exp: Math.floor(Date.now() / 1000) - 10 }))).expect(200);
  });

  it('a JWT with scope admin is an admin', async () => {
    const token = hsToken({ sub: 'ops', scope: 'admin' });
    const res = await request(gw.url).post('/v1/admin/tenants').set(bearer(token)).send({ name: 'by-jwt' });
    expect(res.status).toBe(201);
    const plain = hsToken({ scope: 'read write' });
    expect((await request(gw.url).post('/v1/admin/tenants').set(bearer(plain)).send({ name: 'x' })).status).toBe(403);
  });
});

describe('JWT (JWKS: RS256 / ES256)', () => {
  it('accepts RS256 and ES256 tokens from the JWKS, checking iss and aud', async () => {
    await request(jwksGw.url).get('/v1/models').set(bearer(rsToken())).expect(200);
    const es = jwt.sign({ sub: 'ten_es', scope: 'read', iss: 'https://idp.example', aud: 'tollgate', exp: inAMinute() }, ec.privateKey, { algorithm: 'ES256', keyid: 'ec-1' });
    await request(jwksGw.url).get('/v1/models').set(bearer(es)).expect(200);
    await expect401(jwksGw.url, bearer(rsToken({ iss: 'https://evil.example' })));
    await expect401(jwksGw.url, bearer(rsToken({ aud: 'someone-else' })));
    await expect401(jwksGw.url, bearer(rsToken({ exp: Math.floor(Date.now() / 1000) - 600 })));
  });

  it('refuses an HS256 token signed with the RS256 public key (algorithm confusion)', async () => {
    const publicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const header = b64url({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' });
    const payload = b64url({ sub: 'ten_x', scope: 'admin', iss: 'https://idp.example', aud: 'tollgate', exp: inAMinute() });
    const signature = createHmac('sha256', publicPem).update(`${header}.${payload}`).digest('base64url');
    await expect401(jwksGw.url, bearer(`${header}.${payload}.${signature}`));
    // Also where HS256 is allowed (JWT_SECRET set): the public key is not the secret.
    await expect401(gw.url, bearer(`${header}.${payload}.${signature}`));
  });

  it('refreshes the JWKS for an unknown kid, with a cool-down', async () => {
    const pastCooldown = () => new Promise((r) => setTimeout(r, 350)); // JWKS_COOLDOWN_MS is 300
    await pastCooldown();
    const fetchesBefore = jwksFetches;
    const rotated = rsToken({}, rsaNext.privateKey, 'rsa-2');
    // Not published yet: one refresh, still unknown.
    await expect401(jwksGw.url, bearer(rotated));
    expect(jwksFetches).toBe(fetchesBefore + 1);
    // Within the cool-down a made-up kid does not trigger another fetch.
    await expect401(jwksGw.url, bearer(rsToken({}, rsaNext.privateKey, 'made-up')));
    expect(jwksFetches).toBe(fetchesBefore + 1);
    // The IdP rotates; after the cool-down the new kid is fetched and accepted.
    jwksKeys = [...jwksKeys, jwkOf(rsaNext.publicKey, 'rsa-2', 'RS256')];
    await pastCooldown();
    await request(jwksGw.url).get('/v1/models').set(bearer(rotated)).expect(200);
    expect(jwksFetches).toBe(fetchesBefore + 2);
    // Known kids are served from the cache.
    await request(jwksGw.url).get('/v1/models').set(bearer(rsToken())).expect(200);
    expect(jwksFetches).toBe(fetchesBefore + 2);
  });

  it('refuses HS256 outright when only JWKS is configured', async () => {
    await expect401(jwksGw.url, bearer(jwt.sign({ sub: 'ten_x', scope: 'read', iss: 'https://idp.example', aud: 'tollgate', exp: inAMinute() }, JWT_SECRET, { algorithm: 'HS256' })));
  });
});

describe('scopes', () => {
  it('403 when the key lacks the route class scope', async () => {
    const { key } = await createTenantWithKey(gw.url, { scopes: ['read'] });
    await request(gw.url).get('/v1/models').set(bearer(key)).expect(200);
    const chat = await request(gw.url).post('/v1/chat/completions').set(bearer(key)).send({ model: 'm', messages: [] });
    expect(chat.status).toBe(403);
    expect(chat.body.error).toMatchObject({ type: 'permission_error', code: 'forbidden' });
    for (const [method, path] of [
      ['post', '/v1/embeddings'],
      ['post', '/v1/async/chat/completions'],
      ['get', '/v1/async/jobs/job_1'],
      ['post', '/v1/images/generations'],
      ['post', '/v1/webhooks/endpoints'],
      ['delete', '/v1/files/file_1'],
    ] as const) {
      const res = await request(gw.url)[method](path).set(bearer(key));
      expect([method, path, res.status]).toEqual([method, path, 403]);
    }
    const completionOnly = await createTenantWithKey(gw.url, { scopes: ['completion'] });
    await request(gw.url).post('/v1/chat/completions').set(bearer(completionOnly.key)).send({}).expect(200);
    await request(gw.url).get('/v1/async/jobs/job_1').set(bearer(completionOnly.key)).expect(200);
    await request(gw.url).get('/v1/files').set(bearer(completionOnly.key)).expect(403);
    const generationOnly = await createTenantWithKey(gw.url, { scopes: ['generation'] });
    await request(gw.url).post('/v1/images/generations').set(bearer(generationOnly.key)).send({}).expect(200);
    await request(gw.url).post('/v1/images/ingest').set(bearer(generationOnly.key)).send({}).expect(403);
  });
});
