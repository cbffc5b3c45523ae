import request from 'supertest';
import { createTestEnv, type TestEnv } from '@tollgate/testkit';
import { migrations } from '../src/migrations';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

/**
 * Secrets shown once — an API key, a webhook endpoint's signing secret — never rest in the
 * idempotency store: a replay answers the stored result with the secret left out.
 */
let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let tenant: Awaited<ReturnType<typeof createTenantWithKey>>;
const SECRET = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw==';

beforeAll(async () => {
  env = await createTestEnv('gw_secret_replay');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url);
  tenant = await createTenantWithKey(gw.url);
  upstream.handle((req, res) => {
    res.writeHead(req.url?.endsWith('/rotate-secret') ? 200 : 201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'we_1', object: 'webhook.endpoint', secret: SECRET }));
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

/** Every value under this test's Redis prefix, as text. */
async function storedValues(): Promise<string> {
  const keys = await env.redis.keys(`${env.prefix}*`);
  const values = await Promise.all(keys.map(async (k) => ((await env.redis.type(k)) === 'string' ? ((await env.redis.get(k)) ?? '') : '')));
  return values.map((v) => `${v} ${Buffer.from(v.match(/"body":"([^"]*)"/)?.[1] ?? '', 'base64').toString('utf8')}`).join('\n');
}

it.each([
  ['POST', '/v1/webhooks/endpoints', 201, 'secret'],
  ['POST', '/v1/webhooks/endpoints/we_1/rotate-secret', 200, 'secret'],
] as const)('%s %s: the first answer shows the secret, the store and the replay never do', async (_method, path, status, field) => {
  const idempotencyKey = `replay-${path}`;
  const first = await request(gw.url).post(path).set(bearer(tenant.key)).set('Idempotency-Key', idempotencyKey).send({ url: 'https://example.com/hook' });
  expect(first.status).toBe(status);
  expect(first.body[field]).toBe(SECRET);
  const replay = await request(gw.url).post(path).set(bearer(tenant.key)).set('Idempotency-Key', idempotencyKey).send({ url: 'https://example.com/hook' });
  expect(replay.status).toBe(status);
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(replay.body).toMatchObject({ id: 'we_1', [field]: null, [`${field}_redacted`]: true });
  expect(await storedValues()).not.toContain(SECRET);
});

it('an API key is kept out of the replay of its creation too', async () => {
  const create = () => request(gw.url).post(`/v1/admin/tenants/${tenant.tenantId}/keys`).set(admin).set('Idempotency-Key', 'key-replay').send({ name: 'ci' });
  const first = await create();
  expect(first.status).toBe(201);
  expect(first.body.key).toMatch(/^tg_/);
  const replay = await create();
  expect(replay.body).toMatchObject({ id: first.body.id, key: null, key_redacted: true });
  expect(await storedValues()).not.toContain(first.body.key);
});
