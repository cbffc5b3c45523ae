import { createMetrics, createService } from '@tollgate/common';
import request from 'supertest';
import { OpenApiChecker } from '../src/openapi-check';
import { checkResponsesAgainstOpenApi } from '../src/response-hook';
import { silentLogger } from '../src/logger';

const document = {
  openapi: '3.1.0',
  info: { title: 'Tiny', version: '1' },
  components: {
    schemas: { Thing: { type: 'object', required: ['id', 'count'], properties: { id: { type: 'string' }, count: { type: 'integer' } } } },
  },
  paths: {
    '/v1/things/{id}': {
      get: {
        responses: {
          '200': { description: 'A thing', content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          '404': { description: 'None', content: { 'application/json': { schema: { type: 'object', required: ['error'] } } } },
        },
      },
    },
    '/v1/things/special': { get: { responses: { '204': { description: 'Nothing' } } } },
  },
};

describe('OpenApiChecker', () => {
  const checker = new OpenApiChecker(document);
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const get = (path: string, status: number, body: unknown) =>
    checker.check({ method: 'GET', path, status, contentType: 'application/json; charset=utf-8', body: json(body) });

  it('accepts a body that matches the schema, through a $ref', () => {
    expect(get('/v1/things/t1', 200, { id: 't1', count: 2 })).toBeUndefined();
  });

  it('names the operation, status and schema errors of a body that breaks its schema', () => {
    const violation = get('/v1/things/t1', 200, { id: 't1', count: 'two' });
    expect(violation).toContain('GET /v1/things/{id}: status 200 body does not match its schema');
    expect(violation).toContain('/count must be integer');
  });

  it('fails an undocumented status and an undocumented path', () => {
    expect(get('/v1/things/t1', 409, { error: {} })).toContain('status 409 is not documented');
    expect(get('/v1/other', 200, {})).toContain('has no path matching it');
  });

  it('prefers a literal path segment over a parameter', () => {
    expect(
      checker.check({ method: 'GET', path: '/v1/things/special', status: 204, contentType: undefined, body: Buffer.alloc(0) }),
    ).toBeUndefined();
  });

  it('exempts health, metrics and docs, and accepts an undocumented route refused in the envelope', () => {
    expect(get('/healthz', 200, { status: 'ok' })).toBeUndefined();
    expect(get('/nowhere', 404, { error: { code: 'NOT_FOUND', message: 'Route not found', request_id: 'r' } })).toBeUndefined();
    expect(get('/nowhere', 401, { error: { code: 'UNAUTHENTICATED', message: 'No', request_id: 'r' } })).toBeUndefined();
    expect(get('/nowhere', 500, { error: { code: 'INTERNAL', message: 'No', request_id: 'r' } })).toContain('has no path matching it');
  });

  it('fails a content type the document does not list', () => {
    expect(
      checker.check({ method: 'GET', path: '/v1/things/t1', status: 200, contentType: 'text/plain', body: Buffer.from('hi') }),
    ).toContain('sent text/plain');
  });
});

describe('the response hook', () => {
  it('reports a response of a createService app that breaks its document', async () => {
    const seen: string[] = [];
    const restore = checkResponsesAgainstOpenApi((violation) => seen.push(violation));
    const { app } = createService({
      name: 'tiny',
      logger: silentLogger('tiny'),
      metrics: createMetrics('tiny', { collectDefault: false }),
      openapi: () => document,
      routes: (a) => {
        a.get('/v1/things/:id', (req, res) => {
          res.json(req.params['id'] === 'good' ? { id: 'good', count: 1 } : { id: 'bad' });
        });
      },
    });
    try {
      await request(app).get('/v1/things/good').expect(200);
      expect(seen).toEqual([]);
      await request(app).get('/v1/things/bad').expect(200);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatch(
        /^Tiny: GET \/v1\/things\/\{id\}: status 200 body does not match its schema: \(body\) must have required property 'count'/,
      );
    } finally {
      restore(); // back to the setup file's list, which this test leaves empty
    }
  });
});
