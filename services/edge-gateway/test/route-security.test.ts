import http from 'node:http';
import { sql } from 'kysely';
import { type Express, type NextFunction, type Request, type Response, Router } from 'express';
import { createMetrics, createService, identityMiddleware, randomIds, systemClock, verifyIdentity } from '@tollgate/common';
import { createTestEnv, listen, routesMissingScopeChecks, sendTo, silentLogger, TEST_INTERNAL_SECRET, type TestEnv } from '@tollgate/testkit';
import type { GatewayDb } from '../src/db';
import { generateKey } from '../src/keys/format';
import type { InvalidationBus } from '../src/keys/invalidation';
import { keyRoutes } from '../src/keys/routes';
import { tenantRoutes } from '../src/tenants/routes';
import type { Kysely } from 'kysely';
import { migrations } from '../src/migrations';
import { type GatewayRoute, ROUTES, type Scope } from '../src/proxy/routes';
import { admin, bearer, createTenantWithKey, type FakeUpstream, type RunningGateway, startFakeUpstream, startGateway } from './helpers';

/**
 * The shared security cases, run for every public route of the route table (Unkey's
 * runCommonRouteTests is the model): no credential, an unknown key, a revoked key, a key
 * without the route's scope — each under every spelling of the path a client can send. Every
 * spelling gets the canonical spelling's answer, nothing reaches a service and nothing is
 * written; with the right key, every spelling reaches the service as the canonical path.
 */

jest.setTimeout(120_000);

const TENANT_SCOPES = ['read', 'write', 'completion', 'generation'] as const;
const UNLIMITED = { read: 10_000_000, write: 10_000_000, completion: 10_000_000, generation: 10_000_000 };

let env: TestEnv;
let upstream: FakeUpstream;
let gw: RunningGateway;
let alpha: Awaited<ReturnType<typeof createTenantWithKey>>;
let beta: Awaited<ReturnType<typeof createTenantWithKey>>;
let revokedKey: string;
const keyWithout = {} as Record<(typeof TENANT_SCOPES)[number], string>;

beforeAll(async () => {
  env = await createTestEnv('gw_route_security');
  await env.migrate(migrations);
  upstream = await startFakeUpstream();
  gw = await startGateway(env, upstream.url, { RATE_LIMIT_IP: '10000000' });
  alpha = await createTenantWithKey(gw.url, {}, { name: 'alpha', rate_limits: UNLIMITED });
  beta = await createTenantWithKey(gw.url, {}, { name: 'beta', rate_limits: UNLIMITED });
  for (const scope of TENANT_SCOPES) {
    const res = await fetch(`${gw.url}/v1/admin/tenants/${alpha.tenantId}/keys`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ scopes: TENANT_SCOPES.filter((s) => s !== scope) }),
    });
    keyWithout[scope] = ((await res.json()) as { key: string }).key;
  }
  const revoked = await createTenantWithKey(gw.url, {}, { name: 'gamma' });
  expect((await fetch(`${gw.url}/v1/admin/keys/${revoked.keyId}`, { method: 'DELETE', headers: admin })).status).toBe(200);
  revokedKey = revoked.key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await env?.cleanup();
});

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends exactly this request target: fetch and supertest would normalise it first. */
function send(method: string, target: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(gw.url);
  const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? '{}' : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port, method, path: target, headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': '2' } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The route with its parameters filled: alpha's tenant and key ids, plausible ids elsewhere. */
function segmentsOf(route: GatewayRoute): { value: string; literal: boolean }[] {
  return route.path
    .split('/')
    .slice(1)
    .map((s) => {
      if (!s.startsWith(':') && !s.startsWith('*')) return { value: s, literal: true };
      const value = route.path.startsWith('/v1/admin/tenants/') ? alpha.tenantId : route.path.startsWith('/v1/admin/keys/') ? alpha.keyId : s === ':action' ? 'approve' : s.startsWith('*') ? 'mock-1' : 'id_0001';
      return { value, literal: false };
    });
}

const join = (parts: string[]) => `/${parts.join('/')}`;

/** Spellings that mean the canonical path (RFC 3986 normalisation, Express's case-insensitivity). */
function equivalentSpellings(route: GatewayRoute): [name: string, target: string][] {
  const segments = segmentsOf(route);
  const values = segments.map((s) => s.value);
  const canonical = join(values);
  const [first, ...rest] = values;
  const second = rest[0]!;
  return [
    ['upper-case literals', join(segments.map((s) => (s.literal ? s.value.toUpperCase() : s.value)))],
    ['doubled slashes', `/${values.join('//')}`],
    ['leading double slash', `/${canonical}`],
    ['dot segment', join([first!, '.', ...rest])],
    ['dot-dot segment', join([first!, 'zz', '..', ...rest])],
    ['encoded dot-dot', join([first!, 'zz', '%2e%2E', ...rest])],
    ['encoded dot', join([first!, '%2E', ...rest])],
    ['encoded letter', join([first!, `%${second.charCodeAt(0).toString(16)}${second.slice(1)}`, ...rest.slice(1)])],
    ['trailing slash', `${canonical}/`],
    ['absolute form', `http://tollgate.example${canonical}`],
    ['absolute form, odd case', `HTTP://Tollgate.Example:8080${join(segments.map((s) => (s.literal ? s.value.toUpperCase() : s.value)))}`],
    // Authorities the legacy URL parser would fold into the path.
    ['absolute form, non-numeric port', `http://a:b${canonical}`],
    ['absolute form, userinfo', `http://u@h:x${canonical}`],
  ];
}

/** A spelling that is not the same path: an encoded "/" must never be taken for one. */
const encodedSlash = (route: GatewayRoute) => {
  const values = segmentsOf(route).map((s) => s.value);
  return `/${values[0]}/${values[1]}%2F${values.slice(2).join('/')}`;
};

type Credential = [name: string, headers: (scope: Scope) => Record<string, string>, expected: number];
const CREDENTIALS: Credential[] = [
  ['no credential', () => ({}), 401],
  ['an unknown key', () => bearer(generateKey().key), 401],
  ['a revoked key', () => bearer(revokedKey), 401],
  ['a malformed header', () => ({ Authorization: 'Basic abc' }), 401],
  ['a key without the scope', (scope) => bearer(scope === 'admin' ? alpha.key : keyWithout[scope]), 403],
];

const writtenRows = async () =>
  (await sql<{ n: number }>`select (select count(*) from tenants) + (select count(*) from api_keys) as n`.execute(env.db)).rows[0]!.n;

const label = (r: GatewayRoute) => `${r.method} ${r.path}`;

describe.each(ROUTES.map((r) => [label(r), r] as const))('%s', (_name, route) => {
  it('refuses every credential that may not call it, the same way under every spelling, and lets nothing through', async () => {
    const forwardedBefore = upstream.requests.length;
    const rowsBefore = await writtenRows();
    const canonical = join(segmentsOf(route).map((s) => s.value));
    const answers: string[] = [];
    const wanted: string[] = [];
    for (const [credential, headersFor, expected] of CREDENTIALS) {
      const headers = headersFor(route.scope);
      for (const [spelling, target] of [['canonical', canonical], ...equivalentSpellings(route)] as const) {
        const answer = await send(route.method, target, headers);
        answers.push(`${credential} / ${spelling}: ${answer.status}`);
        wanted.push(`${credential} / ${spelling}: ${expected}`);
      }
      const odd = await send(route.method, encodedSlash(route), headers);
      answers.push(`${credential} / encoded slash: ${[400, 401, 404].includes(odd.status) ? 'refused' : odd.status}`);
      wanted.push(`${credential} / encoded slash: refused`);
    }
    expect(answers).toEqual(wanted);
    expect(upstream.requests.length).toBe(forwardedBefore);
    expect(await writtenRows()).toBe(rowsBefore);
  });

  const harmless = route.owner !== 'gateway' || route.method === 'GET';
  (harmless ? it : it.skip)('with the right credential, every spelling reaches the same route as the canonical path, as the caller', async () => {
    const canonical = join(segmentsOf(route).map((s) => s.value));
    const headers = route.scope === 'admin' ? admin : bearer(alpha.key);
    for (const [spelling, target] of [['canonical', canonical], ...equivalentSpellings(route)] as const) {
      const before = upstream.requests.length;
      // A forged identity is dropped: services only ever see the one the gateway signs.
      const answer = await send(route.method, target, { ...headers, 'X-Tollgate-Identity': 'forged', 'X-Tollgate-Tenant-Id': beta.tenantId });
      expect({ spelling, status: answer.status }).toEqual({ spelling, status: 200 });
      if (route.owner === 'gateway') continue;
      expect(upstream.requests.length).toBe(before + 1);
      const seen = upstream.requests.at(-1)!;
      expect({ spelling, method: seen.method, path: seen.url.split('?')[0] }).toEqual({ spelling, method: route.method, path: canonical });
      const identity = verifyIdentity(String(seen.headers['x-tollgate-identity']), TEST_INTERNAL_SECRET);
      expect(identity.tenantId).toBe(route.scope === 'admin' ? 'admin' : alpha.tenantId);
    }
  });
});

describe('paths no route has', () => {
  it('answer 401 without a credential, then 404 (or 405 with Allow for a known path), and reach no service', async () => {
    const before = upstream.requests.length;
    expect((await send('GET', '/v1/nothing-here')).status).toBe(401);
    expect((await send('GET', '/v1/nothing-here', bearer(beta.key))).status).toBe(404);
    expect((await send('GET', '/V1/Admin/../nothing', bearer(beta.key))).status).toBe(404);
    // Dot segments that leave /v1 altogether are no /v1 request (and no 500).
    expect((await send('GET', '/v1/..', bearer(beta.key))).status).toBe(404);
    expect((await send('GET', '/v1/%2e%2e', bearer(beta.key))).status).toBe(404);
    // An encoded separator inside a literal is no separator: that path does not exist.
    expect((await send('GET', '/v1/admin%5ctenants', admin)).status).toBe(404);
    const put = await send('PUT', '/v1/files', bearer(beta.key));
    expect(put.status).toBe(405);
    expect(JSON.parse(put.body).error.code).toBe('METHOD_NOT_ALLOWED');
    expect(upstream.requests.length).toBe(before);
  });

  it('answer 400 in the error envelope when the target cannot be read', async () => {
    for (const target of ['/v1/../../etc/passwd', '/v1/files/%zz', '/v1/files/a%00b', '/v1\\admin\\tenants', '/v1/files/a%2Fb', '/v1/files/a%5cb', '/v1/files#x', 'v1/files']) {
      const answer = await send('GET', target, admin);
      expect({ target, status: answer.status, code: JSON.parse(answer.body).error?.code }).toEqual({ target, status: 400, code: 'VALIDATION_FAILED' });
    }
  });

  it('the OpenAI routes answer a refusal in OpenAI’s error shape under any spelling; the rest in the envelope', async () => {
    const openai = JSON.parse((await send('POST', '/V1/CHAT//Completions', bearer(keyWithout.completion))).body);
    expect(openai.error).toMatchObject({ type: expect.any(String), code: 'forbidden' });
    const envelope = JSON.parse((await send('POST', '/v1/async/chat/completions', bearer(keyWithout.completion))).body);
    expect(envelope.error).toMatchObject({ code: 'FORBIDDEN', request_id: expect.any(String) });
  });
});

describe('the route table', () => {
  it('covers every route the DESIGN names, each once', () => {
    const labels = ROUTES.map(label);
    expect(new Set(labels).size).toBe(labels.length);
    expect(labels).toEqual(
      expect.arrayContaining([
        'POST /v1/chat/completions',
        'POST /v1/admin/tenants',
        'POST /v1/admin/tenants/:id/keys',
        'DELETE /v1/admin/keys/:id',
        'POST /v1/admin/tenants/:id/credits',
        'POST /v1/images/generations',
        'POST /v1/webhooks/endpoints/:id/rotate-secret',
        'GET /v1/usage',
        'GET /v1/usage/requests',
        'GET /v1/usage/export',
        'GET /v1/admin/usage',
      ]),
    );
  });

  it('gives /v1/admin routes the admin scope and generations its own class, whatever else they are', () => {
    for (const route of ROUTES) expect({ route: label(route), admin: route.scope === 'admin' }).toEqual({ route: label(route), admin: route.path.startsWith('/v1/admin/') });
    expect(ROUTES.find((r) => label(r) === 'POST /v1/images/generations')).toMatchObject({ scope: 'generation', tier: 'generation' });
  });
});

describe("the gateway's own admin routers", () => {
  it('check the admin scope themselves: the edge is not the only check', async () => {
    const logger = silentLogger('edge-gateway');
    const bus: InvalidationBus = { publish: async () => undefined, ready: Promise.resolve(), isLive: () => true, close: async () => undefined };
    const deps = { db: env.db as Kysely<GatewayDb>, clock: systemClock, ids: randomIds, bus, logger };
    const pass = (_req: Request, _res: Response, next: NextFunction) => next();
    // The admin routers alone behind a plain identity check, as a service would serve them.
    const { app } = createService({
      name: 'edge-gateway',
      logger,
      metrics: createMetrics('edge-gateway', { collectDefault: false }),
      accessLog: false,
      routes: (a: Express) => {
        a.use(identityMiddleware(TEST_INTERNAL_SECRET));
        const adminRouter = Router();
        adminRouter.use(tenantRoutes(deps, pass, pass));
        adminRouter.use(keyRoutes({ ...deps, defaultScopes: ['read'] }, pass, pass));
        a.use('/v1/admin', adminRouter);
      },
    });
    const server = await listen(app);
    try {
      const rowsBefore = await writtenRows();
      expect(await routesMissingScopeChecks(app, sendTo(server.url))).toEqual([]);
      expect(await writtenRows()).toBe(rowsBefore);
    } finally {
      await server.close();
    }
  });
});
