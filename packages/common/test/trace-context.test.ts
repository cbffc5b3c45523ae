import express from 'express';
import request from 'supertest';
import { currentTraceIds, formatTraceparent, injectTraceHeaders, isValidTraceparent, requestIdMiddleware, traceIdsUnder } from '../src';

describe('trace context without the OpenTelemetry SDK', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('continues the caller’s trace with a span of its own, or starts one', () => {
    const child = traceIdsUnder(incoming);
    expect(child).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', flags: '01' });
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child.spanId).not.toBe('00f067aa0ba902b7');
    for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', `${incoming}-extra`]) {
      const fresh = traceIdsUnder(bad);
      expect(isValidTraceparent(formatTraceparent(fresh))).toBe(true);
      expect(fresh.traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    }
  });

  it('puts the trace in the request context: log ids, and the traceparent of every call made from there', async () => {
    const app = express();
    app.use(requestIdMiddleware());
    app.get('/', (_req, res) => {
      res.json({ ids: currentTraceIds(), outgoing: injectTraceHeaders() });
    });
    const res = await request(app).get('/').set('traceparent', incoming);
    expect(res.body.ids.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    // The outgoing call names this hop's span as its parent.
    expect(res.body.outgoing.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${res.body.ids.span_id}-01`);
    const fresh = await request(app).get('/');
    expect(isValidTraceparent(fresh.body.outgoing.traceparent)).toBe(true);
  });
});
