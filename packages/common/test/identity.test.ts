import express from 'express';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { silentLogger } from '@tollgate/testkit';
import { errorHandler } from '../src/http/error-handler';
import { requestIdMiddleware } from '../src/http/request-id';
import { identityMiddleware, requireScope, signIdentity, verifyIdentity } from '../src/identity';

const SECRET = 'identity-test-secret-0123456789abcdef';

describe('internal identity token', () => {
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
});
