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

describe('graceful shutdown', () => {
  it('finishes an in-flight request, refuses new ones, then closes dependencies in order', async () => {
    let release: () => void = () => undefined;
    const { app, readiness } = createService({
      name: 't',
      logger: silentLogger(),
      metrics: createMetrics('t', { collectDefault: false }),
      routes: (a) => {
        a.get('/slow', async (_req, res) => {
          await new Promise<void>((r) => (release = r));
          res.json({ finished: true });
        });
      },
    });
    const closed: string[] = [];
    const server = await startServer({
      app,
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      readiness,
      shutdownTimeoutMs: 5_000,
      closers: [
        { name: 'worker', close: async () => void closed.push('worker') },
        { name: 'db', close: async () => void closed.push('db') },
      ],
    });

    const inFlight = get(`${server.url}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    const shutdown = server.shutdown('test');
    await new Promise((r) => setTimeout(r, 50));

    expect(readiness.isDraining).toBe(true);
    await expect(get(`${server.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    expect(closed).toEqual([]); // dependencies stay open while a request still needs them

    release();
    await expect(inFlight).resolves.toEqual({ status: 200, body: JSON.stringify({ finished: true }) });
    await expect(shutdown).resolves.toBe(true);
    expect(closed).toEqual(['worker', 'db']);
  });

  it('cuts what is still running when the deadline passes', async () => {
    const { app, readiness } = createService({
      name: 't',
      logger: silentLogger(),
      metrics: createMetrics('t', { collectDefault: false }),
      routes: (a) => {
        a.get('/forever', () => new Promise(() => undefined));
      },
    });
    const server = await startServer({ app, port: 0, host: '127.0.0.1', logger: silentLogger(), readiness, shutdownTimeoutMs: 200 });
    const stuck = get(`${server.url}/forever`).catch((err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 50));
    await expect(server.shutdown()).resolves.toBe(false);
    await expect(stuck).resolves.toMatch(/socket hang up|ECONNRESET/);
  });
});

describe('malformed HTTP', () => {
  it('answers oversized headers and garbage request lines with the error envelope', async () => {
    const { app, readiness } = createService({
      name: 't',
      logger: silentLogger(),
      metrics: createMetrics('t', { collectDefault: false }),
      routes: () => undefined,
    });
    const server = await startServer({ app, port: 0, host: '127.0.0.1', logger: silentLogger(), readiness });
    const raw = (payload: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = require('node:net').connect(server.port, '127.0.0.1') as import('node:net').Socket;
        let out = '';
        socket.on('data', (c: Buffer) => (out += c.toString('utf8')));
        socket.on('end', () => resolve(out));
        socket.on('error', reject);
        socket.write(payload);
      });
    try {
      const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(big).toMatch(/^HTTP\/1.1 431/);
      expect(JSON.parse(big.split('\r\n\r\n')[1]!)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
      const garbage = await raw('THIS IS NOT HTTP\r\n\r\n');
      expect(garbage).toMatch(/^HTTP\/1.1 400/);
      expect(garbage).toContain('"code":"VALIDATION_FAILED"');
    } finally {
      await server.shutdown();
    }
  });
});

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
      // A stub document over test-only routes: marked so the response checks leave it alone.
      openapi: () => ({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: {}, 'x-test-only-routes': true }),
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
