import request from 'supertest';
import { auth, filesUnder, type Harness, multipartBody, pngBytes, rawRequest, startHarness, uploadFile } from './helpers';

const QUOTA_BYTES = 100_000;
const QUOTA_FILES = 5;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_quota', {
    env: { UPLOAD_MAX_BYTES: String(60_000), QUOTA_MAX_BYTES: String(QUOTA_BYTES), QUOTA_MAX_FILES: String(QUOTA_FILES) },
  });
});
afterAll(async () => {
  await h.close();
});

const usage = async (tenant: string) =>
  (await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenant).executeTakeFirst()) ?? {
    bytes: 0,
    files: 0,
  };
const storedBytes = async (tenant: string) => {
  const rows = await h.db.selectFrom('files').select(['bytes']).where('tenant_id', '=', tenant).where('status', '=', 'ready').execute();
  return { bytes: rows.reduce((n, r) => n + r.bytes, 0), files: rows.length };
};

describe('per-tenant quota', () => {
  it('concurrent uploads never exceed the byte quota', async () => {
    // 12 uploads of 20 KB at once against a 100 KB quota: at most 5 fit.
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => uploadFile(h.url, 'ten_bytes', { content: pngBytes(20_000), filename: `p${i}.png` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 403)).toBe(true);
    const stored = await storedBytes('ten_bytes');
    expect(stored.bytes).toBeLessThanOrEqual(QUOTA_BYTES);
    expect(stored.files).toBe(statuses.filter((s) => s === 201).length);
    expect(stored.files).toBeGreaterThanOrEqual(1);
    expect(await usage('ten_bytes')).toEqual(stored);
    const refusal = results.find((r) => r.status === 403)!.json();
    expect(refusal.error).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'quota_exceeded' } });
    expect(['bytes', 'files']).toContain(refusal.error.details.quota);
    // Multipart framing is reserved until an upload settles; in-flight uploads wait for it, so the quota fills.
    expect(stored.files).toBeGreaterThanOrEqual(4);
    // Refused uploads left nothing: only the stored files' objects exist.
    expect((await filesUnder(h.dataDir)).filter((f) => f.startsWith('objects/'))).toHaveLength(
      stored.files + (await otherTenantsFiles('ten_bytes')),
    );
    expect(await h.db.selectFrom('upload_reservations').select('id').execute()).toEqual([]);
  });

  it('concurrent uploads never exceed the file-count quota', async () => {
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) => uploadFile(h.url, 'ten_count', { content: Buffer.from(`small ${i}`), filename: `s${i}.txt` })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(QUOTA_FILES);
    const refused = results.filter((r) => r.status === 403);
    expect(refused).toHaveLength(9 - QUOTA_FILES);
    expect(refused[0]!.json().error.details).toMatchObject({ quota: 'files', limit: QUOTA_FILES });
    expect(await usage('ten_count')).toEqual(await storedBytes('ten_count'));
  });

  it('a chunked upload (no Content-Length) is cut with 403 when it outgrows the remaining quota', async () => {
    const first = await uploadFile(h.url, 'ten_grow', { content: pngBytes(50_000), filename: 'a.png' });
    expect(first.status).toBe(201);
    // 50 KB left; this one is 55 KB, sent without a length so the reservation has to grow mid-stream.
    const { body, contentType } = multipartBody([{ name: 'file', filename: 'b.png', content: pngBytes(55_000) }]);
    const res = await rawRequest(h.url, {
      method: 'POST',
      path: '/v1/files',
      headers: { ...auth('ten_grow'), 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' },
      body: [body.subarray(0, 30_000), body.subarray(30_000)],
    });
    expect(res.status).toBe(403);
    expect(await usage('ten_grow')).toEqual({ bytes: 50_000, files: 1 });
    // A chunked upload that fits still works, its reservation growing as needed.
    const { body: fits, contentType: ct2 } = multipartBody([{ name: 'file', filename: 'c.png', content: pngBytes(45_000) }]);
    const ok = await rawRequest(h.url, {
      method: 'POST',
      path: '/v1/files',
      headers: { ...auth('ten_grow'), 'Content-Type': ct2, 'Transfer-Encoding': 'chunked' },
      body: [fits.subarray(0, 10_000), fits.subarray(10_000)],
    });
    expect(ok.status).toBe(201);
    expect(await usage('ten_grow')).toEqual({ bytes: 95_000, files: 2 });
  });

  it('deleting a file gives its quota back', async () => {
    const files = await h.db.selectFrom('files').select('id').where('tenant_id', '=', 'ten_grow').execute();
    for (const { id } of files) expect((await request(h.url).delete(`/v1/files/${id}`).set(auth('ten_grow'))).status).toBe(200);
    expect(await usage('ten_grow')).toEqual({ bytes: 0, files: 0 });
    expect((await uploadFile(h.url, 'ten_grow', { content: pngBytes(55_000), filename: 'again.png' })).status).toBe(201);
  });

  it('a tenant at its quota is refused before any byte is stored; other tenants are unaffected', async () => {
    for (let i = 0; i < 5; i += 1)
      expect((await uploadFile(h.url, 'ten_full', { content: pngBytes(20_000), filename: `f${i}.png` })).status).toBe(201);
    expect(await usage('ten_full')).toEqual({ bytes: 100_000, files: 5 });
    const res = await uploadFile(h.url, 'ten_full', { content: Buffer.from('x'), filename: 'x.txt' });
    expect(res.status).toBe(403);
    expect((await uploadFile(h.url, 'ten_other', { content: Buffer.from('x'), filename: 'x.txt' })).status).toBe(201);
  });
});

async function otherTenantsFiles(tenant: string): Promise<number> {
  const rows = await h.db.selectFrom('files').select('id').where('tenant_id', '<>', tenant).execute();
  return rows.length;
}
