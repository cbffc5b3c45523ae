import express from 'express';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { silentLogger } from '@tollgate/testkit';
import { errorHandler } from '../src/http/error-handler';
import { requestIdMiddleware } from '../src/http/request-id';
import { identityMiddleware, requireScope, signIdentity, verifyIdentity } from '../src/identity';

const SECRET = 'identity-test-secret-0123456789abcdef';

describe('internal identity token', () => {
  it("carries a key's model allow-list and token limit when it has them, and nothing when not", () => {
    const withPolicy = verifyIdentity(signIdentity({ tenantId: 't', keyId: 'key_1', scopes: ['read'], models: ['small', 'openai/gpt-4o'], tokensPerMinute: 500 }, SECRET), SECRET);
    expect(withPolicy).toEqual({ tenantId: 't', keyId: 'key_1', scopes: ['read'], models: ['small', 'openai/gpt-4o'], tokensPerMinute: 500 });
    const budget = { amount: 3_000_000, period: 'week' as const };
    expect(verifyIdentity(signIdentity({ tenantId: 't', keyId: 'key_1', scopes: ['read'], budget }, SECRET), SECRET)).toEqual({
      tenantId: 't',
      keyId: 'key_1',
      scopes: ['read'],
      budget,
    });
    // An empty allow-list is a list (no model), not "every model".
    expect(verifyIdentity(signIdentity({ tenantId: 't', keyId: 'k', scopes: [], models: [] }, SECRET), SECRET).models).toEqual([]);
    expect(verifyIdentity(signIdentity({ tenantId: 't', keyId: 'k', scopes: ['read'] }, SECRET), SECRET)).toEqual({ tenantId: 't', keyId: 'k', scopes: ['read'] });
  });

  it('round-trips tenant, key and scopes', () => {
    const token = signIdentity({ tenantId: 'ten_1', keyId: 'key_1', scopes: ['read', 'write'] }, SECRET);
    expect(verifyIdentity(token, SECRET)).toEqual({ tenantId: 'ten_1', keyId: 'key_1', scopes: ['read', 'write'] });
  });

  it('refuses a wrong secret, an expired token, alg none and a foreign issuer', () => {
    const token = signIdentity({ tenantId: 't', keyId: 'k', scopes: [] }, SECRET);
    expect(() => verifyIdentity(token, 'another-secret-0123456789abcdefgh')).toThrow(/invalid service identity/);
    const expired = jwt.sign({ scope: '', kid: 'k', exp: Math.floor(Date.now() / 1000) - 60 }, SECRET, { subject: 't', issuer: 'tollgate-gateway', audience: 'tollgate-internal' });
    expect(() => verifyIdentity(expired, SECRET)).toThrow();
    const none = jwt.sign({ scope: 'admin' }, '', { algorithm: 'none', subject: 't', issuer: 'tollgate-gateway', audience: 'tollgate-internal' });
    expect(() => verifyIdentity(none, SECRET)).toThrow();
    const foreign = jwt.sign({ scope: 'admin' }, SECRET, { subject: 't', issuer: 'someone-else', audience: 'tollgate-internal' });
    expect(() => verifyIdentity(foreign, SECRET)).toThrow();
  });

  it('middleware: 401 without identity, 403 without the scope, 200 with it', async () => {
    const app = express();
    app.use(requestIdMiddleware());
    app.use(identityMiddleware(SECRET));
    app.get('/internal', requireScope('service'), (req, res) => { res.json({ tenant: req.identity?.tenantId }); });
    app.use(errorHandler(silentLogger()));
    await request(app).get('/internal').expect(401).expect((r) => expect(r.body.error.code).toBe('UNAUTHENTICATED'));
    const admin = signIdentity({ tenantId: 'admin', keyId: 'admin', scopes: ['admin'] }, SECRET);
    await request(app).get('/internal').set('X-Tollgate-Identity', admin).expect(403);
    const svc = signIdentity({ tenantId: 'system', keyId: 'ai-proxy', scopes: ['service'] }, SECRET);
    await request(app).get('/internal').set('X-Tollgate-Identity', svc).expect(200, { tenant: 'system' });
    await request(app).get('/internal').set('X-Tollgate-Identity', 'garbage').expect(401);
  });

  it('middleware: a token verified once is trusted from memory only until it expires, and only that exact token', () => {
    jest.useFakeTimers({ now: new Date('2026-12-02T12:00:00Z') });
    try {
      const check = identityMiddleware(SECRET);
      const run = (token: string) => {
        const req = { headers: { 'x-tollgate-identity': token } } as unknown as express.Request;
        check(req, {} as express.Response, () => undefined);
        return req.identity;
      };
      const token = signIdentity({ tenantId: 'ten_1', keyId: 'key_1', scopes: ['read'] }, SECRET, 60);
      expect(run(token)).toEqual({ tenantId: 'ten_1', keyId: 'key_1', scopes: ['read'] });
      // Callers get their own copy: a handler changing it cannot change the next request's.
      run(token)!.scopes.push('admin');
      expect(run(token)!.scopes).toEqual(['read']);
      // One character off is another token, verified (and refused) on its own.
      expect(() => run(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toThrow(/invalid service identity/);
      // Past its expiry (and the 5 s of clock tolerance) the remembered token is refused too.
      jest.setSystemTime(new Date('2026-12-02T12:01:06Z'));
      expect(() => run(token)).toThrow(/invalid service identity/);
    } finally {
      jest.useRealTimers();
    }
  });
});
