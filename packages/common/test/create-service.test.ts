import { Router } from 'express';
import request from 'supertest';
import { z } from 'zod';
import { captureLogger } from '@tollgate/testkit';
import { AppError } from '../src/errors';
import { createInternalApi, createService } from '../src/http/create-service';
import { signIdentity } from '../src/identity';
import { useOpenAiErrors } from '../src/http/error-handler';
import { createMetrics } from '../src/metrics';
import { validateBody } from '../src/validation';

function buildApp() {
  const { logger, lines } = captureLogger('svc');
  const metrics = createMetrics('svc', { collectDefault: false });
  const { app, readiness } = createService({
    name: 'svc',
    logger,
    metrics,
    jsonBodyLimit: '1kb',
    // A stub document over test-only routes: marked so the response checks leave it alone.
    openapi: () => ({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {}, 'x-test-only-routes': true }),
    routes: (a) => {
      const files = Router();
      files.get('/:id', (req, res) => {
        res.json({ id: req.params['id'], request_id: req.requestId });
      });
      a.use('/v1/files', files);
      a.post('/v1/things', validateBody(z.object({ name: z.string().min(1), count: z.number().int() })), (req, res) => {
        res.status(201).json(req.body);
      });
      a.get('/boom', () => {
        throw new Error('database password=hunter2 at 10.0.0.5');
      });
      a.get('/async-boom', async () => {
        await Promise.resolve();
        throw new AppError('CONFLICT', 'Already captured', { details: { status: 'captured' } });
      });
      a.post('/v1/chat/completions', useOpenAiErrors(), (_req, _res) => {
        throw new AppError('INSUFFICIENT_CREDITS', 'Not enough credits');
      });
    },
  });
  return { app, readiness, lines, metrics };
}

describe('createService', () => {
  it('accepts a well-formed X-Request-ID and echoes it; replaces a malformed one', async () => {
    const { app } = buildApp();
    const good = await request(app).get('/v1/files/f1').set('X-Request-ID', 'client-req-0001').expect(200);
    expect(good.headers['x-request-id']).toBe('client-req-0001');
    expect(good.body.request_id).toBe('client-req-0001');
    const bad = await request(app).get('/v1/files/f1').set('X-Request-ID', 'bad id with spaces <script>').expect(200);
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await request(app).get('/v1/files/f1').expect(200);
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with a 404 envelope', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/nope').set('X-Request-ID', 'req-404-aaaa').expect(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: 'No route for GET /nope', request_id: 'req-404-aaaa' } });
  });

  it('hides internal errors behind a generic 500 but logs them in full', async () => {
    const { app, lines } = buildApp();
    const res = await request(app).get('/boom').expect(500);
    expect(res.body.error).toEqual({ code: 'INTERNAL', message: 'An internal error occurred', request_id: res.headers['x-request-id'] });
    expect(res.text).not.toMatch(/hunter2|10\.0\.0\.5|at /);
    const logged = lines.find((l: Record<string, unknown>) => l['message'] === 'request failed');
    expect(logged).toBeDefined();
    expect(JSON.stringify(logged)).toContain('10.0.0.5');
    expect(logged!['request_id']).toBe(res.headers['x-request-id']);
  });

  it('passes AppErrors from async handlers through with their details', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/async-boom').expect(409);
    expect(res.body.error).toMatchObject({ code: 'CONFLICT', message: 'Already captured', details: { status: 'captured' } });
  });

  it('validates bodies: bad JSON, wrong types and oversize bodies get 4xx envelopes', async () => {
    const { app } = buildApp();
    await request(app).post('/v1/things').set('content-type', 'application/json').send('{"name": ').expect(400)
      .expect((r) => expect(r.body.error.code).toBe('VALIDATION_FAILED'));
    const wrong = await request(app).post('/v1/things').send({ name: '', count: 1.5 }).expect(400);
    expect(wrong.body.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual(['count', 'name']);
    await request(app).post('/v1/things').send({ name: 'x'.repeat(2000), count: 1 }).expect(413)
      .expect((r) => expect(r.body.error.code).toBe('PAYLOAD_TOO_LARGE'));
    await request(app).post('/v1/things').send({ name: 'ok', count: 2 }).expect(201, { name: 'ok', count: 2 });
  });

  it('answers OpenAI-compatible routes in the OpenAI error shape', async () => {
    const { app } = buildApp();
    const res = await request(app).post('/v1/chat/completions').send({}).expect(402);
    expect(res.body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_credits', message: 'Not enough credits' });
  });

  it('serves health, readiness, metrics with route templates, the OpenAPI document and docs', async () => {
    const { app, readiness } = buildApp();
    await request(app).get('/healthz').expect(200, { status: 'ok', service: 'svc' });
    readiness.register('always', async () => undefined);
    await request(app).get('/readyz').expect(200).expect((r) => expect(r.body.checks.always.ok).toBe(true));
    readiness.register('broken', async () => {
      throw new Error('connection refused');
    });
    const notReady = await request(app).get('/readyz').expect(503);
    expect(notReady.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { failed: ['broken'] } });
    await request(app).get('/v1/files/abc').expect(200);
    await request(app).get('/v1/files/def').expect(200);
    const metrics = await request(app).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/http_requests_total\{method="GET",route="\/v1\/files\/:id",status="200",service="svc"\} 2/);
    expect(metrics.text).not.toMatch(/\/v1\/files\/abc/);
    await request(app).get('/openapi.json').expect(200).expect((r) => expect(r.body.openapi).toBe('3.1.0'));
    const docs = await request(app).get('/docs/').expect(200);
    expect(docs.text).toContain('swagger-ui-bundle.js');
    await request(app).get('/docs/swagger-ui-bundle.js').expect(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('sets security headers', async () => {
    const { app } = buildApp();
    const res = await request(app).get('/healthz');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toBeDefined();
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('input the database or a validator would choke on', () => {
  it('refuses deeply nested JSON before parsing, NUL bytes in URLs, and maps PostgreSQL data errors to 400', async () => {
    const { logger } = captureLogger('svc');
    const { app } = createService({
      name: 'svc',
      logger,
      metrics: createMetrics('svc', { collectDefault: false }),
      routes: (a) => {
        a.post('/echo', (req, res) => {
          res.json({ ok: true, keys: Object.keys(req.body as object) });
        });
        a.get('/pg', () => {
          throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021', severity: 'ERROR' });
        });
      },
    });
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const res = await request(app).post('/echo').set('content-type', 'application/json').send(deep).expect(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { max_depth: 64 } });
    await request(app).post('/echo').send({ a: { b: { c: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' } } }).expect(200);
    await request(app).get('/files/abc%00def').expect(400).expect((r) => expect(r.body.error.code).toBe('VALIDATION_FAILED'));
    const pg = await request(app).get('/pg').expect(400);
    expect(pg.body.error.code).toBe('VALIDATION_FAILED');
    expect(pg.text).not.toContain('0x00');
  });
});

describe('createInternalApi', () => {
  const config = { CORS_ORIGINS: [], BODY_LIMIT: '1kb', REQUEST_TIMEOUT_MS: 60_000, ACCESS_LOG: false, INTERNAL_JWT_SECRET: 'internal-secret-for-tests-0123456789' };

  it('reads the identity token before every router and takes the body limit and access log from config', async () => {
    const { logger, lines } = captureLogger('svc');
    const things = Router().post('/v1/things', (req, res) => void res.status(201).json({ tenant: req.identity?.tenantId ?? null, body: req.body }));
    const { app } = createInternalApi({ name: 'svc', config, logger, metrics: createMetrics('svc', { collectDefault: false }), routers: [things] });
    expect((await request(app).post('/v1/things').send({ a: 1 })).body).toEqual({ tenant: null, body: { a: 1 } });
    const headers = { 'X-Tollgate-Identity': signIdentity({ tenantId: 't', keyId: 'k', scopes: ['write'] }, config.INTERNAL_JWT_SECRET) };
    expect((await request(app).post('/v1/things').set(headers).send({ a: 1 })).body).toEqual({ tenant: 't', body: { a: 1 } });
    expect((await request(app).post('/v1/things').set(headers).send({ a: 'x'.repeat(2_000) })).status).toBe(413);
    expect(lines.filter((l) => l['message'] === 'request')).toEqual([]);
  });
});
