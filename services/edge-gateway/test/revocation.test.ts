import request from 'supertest';
import { closeAll } from '@tollgate/common';
import { admin, bearer, createTenantWithKey, type RunningGateway, startTwoReplicas, type TwoReplicas } from './helpers';

let a: RunningGateway;
let b: RunningGateway;

// A cache TTL of ten minutes: only the cross-replica invalidation can explain a prompt refusal.
const REPLICA = { KEY_CACHE_TTL_MS: '600000' };

let replicas: TwoReplicas | undefined;

beforeAll(async () => {
  replicas = await startTwoReplicas('gw_revoke', REPLICA);
  ({ a, b } = replicas);
});

afterAll(async () => {
  await replicas?.close();
});

/** Polls until the key is refused; returns how long that took (or Infinity past the deadline). */
async function msUntilRefused(url: string, key: string, since: number, deadlineMs = 3000): Promise<number> {
  while (Date.now() - since < deadlineMs) {
    const res = await request(url).get('/v1/models').set(bearer(key));
    if (res.status === 401) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number.POSITIVE_INFINITY;
}

describe('revocation across replicas', () => {
  it('a revoked key fails on both instances within one second', async () => {
    const { key, keyId } = await createTenantWithKey(a.url);
    // Both replicas have the key cached.
    await request(a.url).get('/v1/models').set(bearer(key)).expect(200);
    await request(b.url).get('/v1/models').set(bearer(key)).expect(200);
    const revokedAt = Date.now();
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    const [onA, onB] = await Promise.all([msUntilRefused(a.url, key, revokedAt), msUntilRefused(b.url, key, revokedAt)]);
    expect(onA).toBeLessThan(1000);
    expect(onB).toBeLessThan(1000);
  });

  it('an expired key fails on both instances within one second of its expiry', async () => {
    const expiresAt = Date.now() + 1500;
    const { key } = await createTenantWithKey(a.url, { expires_at: new Date(expiresAt).toISOString() });
    await request(a.url).get('/v1/models').set(bearer(key)).expect(200);
    await request(b.url).get('/v1/models').set(bearer(key)).expect(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now())));
    const [onA, onB] = await Promise.all([msUntilRefused(a.url, key, expiresAt), msUntilRefused(b.url, key, expiresAt)]);
    expect(onA).toBeLessThan(1000);
    expect(onB).toBeLessThan(1000);
  });

  it('without the invalidation channel, replicas read the database instead of trusting their cache', async () => {
    const { key, keyId } = await createTenantWithKey(a.url);
    await request(b.url).get('/v1/models').set(bearer(key)).expect(200);
    // Stop b hearing announcements (as if its subscription dropped), then revoke through a.
    await closeAll(b.gateway.closers);
    await request(a.url).delete(`/v1/admin/keys/${keyId}`).set(admin).expect(200);
    await request(b.url).get('/v1/models').set(bearer(key)).expect(401);
  });
});
