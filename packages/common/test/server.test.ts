import http from 'node:http';
import { silentLogger } from '@tollgate/testkit';
import { createService } from '../src/http/create-service';
import { expressBornClasses, startServer } from '../src/http/server';
import { createMetrics } from '../src/metrics';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('startServer', () => {
  it('hands express requests and responses already built on its prototypes, so express never re-parents them', async () => {
    expect(
      expressBornClasses(
        createService({
          name: 'x',
          logger: silentLogger(),
          metrics: createMetrics('x', { collectDefault: false }),
          routes: () => undefined,
        }).app,
      ),
    ).toMatchObject({
      IncomingMessage: expect.any(Function),
      ServerResponse: expect.any(Function),
    });
    const seen: Record<string, boolean> = {};
    const { app, readiness } = createService({
      name: 't',
      logger: silentLogger(),
      metrics: createMetrics('t', { collectDefault: false }),
      openapi: () => ({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {} }),
      routes: (a) => {
        a.get('/probe', (req, res) => {
          seen.requestProto = Object.getPrototypeOf(req) === a.request;
          seen.responseProto = Object.getPrototypeOf(res) === a.response;
          seen.isIncomingMessage = req instanceof http.IncomingMessage;
          seen.isServerResponse = res instanceof http.ServerResponse;
          res.status(201).json({ query: req.query, path: req.path, ip: typeof req.ip });
        });
      },
    });
    const server = await startServer({ app, port: 0, host: '127.0.0.1', logger: silentLogger(), readiness });
    try {
      await expect(get(`${server.url}/probe?x=1`)).resolves.toEqual({
        status: 201,
        body: JSON.stringify({ query: { x: '1' }, path: '/probe', ip: 'string' }),
      });
      expect(seen).toEqual({ requestProto: true, responseProto: true, isIncomingMessage: true, isServerResponse: true });
      // A mounted sub-app (Swagger UI) still gets its own prototypes and answers.
      expect((await get(`${server.url}/docs/`)).status).toBe(200);
      // Errors still go through the envelope.
      const missing = await get(`${server.url}/nope`);
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    } finally {
      await server.shutdown('test');
    }
  });
});
