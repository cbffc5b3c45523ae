import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import { serviceHeaders, silentLogger } from '@tollgate/testkit';
import { signServiceIdentity, startServer } from '@tollgate/common';
import { TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { serverTimeouts } from '../src/config';
import { auth, filesUnder, type Harness, pdfBytes, pngBytes, rawRequest, startHarness, uploadFile } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_files');
});
afterAll(async () => {
  await h.close();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('POST /v1/files', () => {
  it('streams a PNG to storage and answers with the file object', async () => {
    const png = pngBytes(5000);
    const res = await uploadFile(h.url, 'ten_a', { content: png, filename: 'cat.png' }, { purpose: 'image', expires_in: '3600' });
    expect(res.status).toBe(201);
    const file = res.json();
    expect(file).toMatchObject({
      object: 'file',
      filename: 'cat.png',
      purpose: 'image',
      bytes: png.length,
      sha256: sha256(png),
      mime_type: 'image/png',
      status: 'ready',
    });
    expect(file.id).toMatch(/^file_[A-Za-z0-9]{24}$/);
    expect(res.headers['location']).toBe(`/v1/files/${file.id}`);
    expect(new Date(file.expires_at).getTime() - new Date(file.created_at).getTime()).toBe(3600_000);

    // The bytes are on disk under a generated key, nothing left in tmp/.
    const stored = await filesUnder(h.dataDir);
    const row = await h.db.selectFrom('files').select(['storage_key', 'tenant_id']).where('id', '=', file.id).executeTakeFirstOrThrow();
    expect(stored).toContain(path.join('objects', row.storage_key.slice(0, 2), row.storage_key));
    expect(stored.filter((f) => f.startsWith('tmp'))).toEqual([]);
    expect(await fs.readFile(path.join(h.dataDir, 'objects', row.storage_key.slice(0, 2), row.storage_key))).toEqual(png);

    const event = h.events.find((e) => e.type === 'file.uploaded' && (e.data['file'] as { id: string }).id === file.id);
    expect(event).toMatchObject({ tenant_id: 'ten_a', data: { file: { sha256: sha256(png) } } });
  });

  it('accepts the purpose after the file part and uses the default purpose when absent', async () => {
    const after = await uploadFile(h.url, 'ten_a', { content: pdfBytes(), filename: 'doc.pdf' });
    expect(after.status).toBe(201);
    expect(after.json()).toMatchObject({ purpose: 'general', mime_type: 'application/pdf' });
  });

  it('supports plain text, Markdown, CSV and JSON documents by extension', async () => {
    const cases: [string, string, string][] = [
      ['notes.txt', 'hello\n', 'text/plain'],
      ['README.md', '# Title\n\nSome *text*.\n', 'text/markdown'],
      ['data.csv', 'a,b\n1,2\n', 'text/csv'],
      ['data.json', '{"a": [1, 2]}', 'application/json'],
      ['noext', 'just words', 'text/plain'],
    ];
    for (const [filename, content, mime] of cases) {
      const res = await uploadFile(h.url, 'ten_a', { content: Buffer.from(content), filename }, { purpose: 'document' });
      expect([filename, res.status, res.json().mime_type]).toEqual([filename, 201, mime]);
    }
  });

  it('refuses requests without identity, without write scope, and bodies that are not multipart', async () => {
    const anonymous = await request(h.url).post('/v1/files').attach('file', pngBytes(), 'a.png');
    expect(anonymous.status).toBe(401);
    const readOnly = await request(h.url)
      .post('/v1/files')
      .set(auth('ten_a', ['read']))
      .attach('file', pngBytes(), 'a.png');
    expect(readOnly.status).toBe(403);
    const json = await request(h.url).post('/v1/files').set(auth('ten_a')).send({ file: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a form without a file, with two files, or with an unknown purpose or bad expires_in', async () => {
    const noFile = await request(h.url).post('/v1/files').set(auth('ten_a')).field('purpose', 'image');
    expect(noFile.status).toBe(400);
    const two = await request(h.url)
      .post('/v1/files')
      .set(auth('ten_a'))
      .attach('file', pngBytes(), 'a.png')
      .attach('file', pngBytes(), 'b.png');
    expect(two.status).toBe(400);
    const purpose = await request(h.url)
      .post('/v1/files')
      .set(auth('ten_a'))
      .field('purpose', 'weights')
      .attach('file', pngBytes(), 'a.png');
    expect(purpose.status).toBe(400);
    expect(purpose.body.error.details.param).toBe('purpose');
    const expires = await request(h.url).post('/v1/files').set(auth('ten_a')).field('expires_in', '-5').attach('file', pngBytes(), 'a.png');
    expect(expires.status).toBe(400);
    expect(expires.body.error.details.param).toBe('expires_in');
    const empty = await request(h.url).post('/v1/files').set(auth('ten_a')).attach('file', Buffer.alloc(0), 'a.txt');
    expect(empty.status).toBe(400);
    // None of these left a row, an object or a reservation behind.
    expect((await filesUnder(h.dataDir)).filter((f) => f.startsWith('tmp'))).toEqual([]);
    expect(await h.db.selectFrom('upload_reservations').select('id').execute()).toEqual([]);
  });
});

describe('reading files', () => {
  let fileId: string;
  const png = pngBytes(3000);
  beforeAll(async () => {
    fileId = (await uploadFile(h.url, 'ten_read', { content: png, filename: 'pic.png' }, { purpose: 'image' })).json().id;
  });

  it('GET /v1/files/:id returns the metadata', async () => {
    const res = await request(h.url)
      .get(`/v1/files/${fileId}`)
      .set(auth('ten_read', ['read']));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: fileId, bytes: png.length, mime_type: 'image/png' });
  });

  it('GET content sends the bytes with type, disposition, nosniff and ETag = SHA-256', async () => {
    const res = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${fileId}/content`, headers: auth('ten_read', ['read']) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(png);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-length']).toBe(String(png.length));
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['etag']).toBe(`"${sha256(png)}"`);
    expect(res.headers['content-disposition']).toBe(`inline; filename="pic.png"; filename*=UTF-8''pic.png`);
    expect(res.headers['content-security-policy']).toContain('sandbox');
    expect(res.headers['accept-ranges']).toBe('bytes');

    const download = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content?download=1`,
      headers: auth('ten_read', ['read']),
    });
    expect(download.headers['content-disposition']).toMatch(/^attachment; /);
  });

  it('answers Range requests, conditional requests and HEAD', async () => {
    const headers = auth('ten_read', ['read']);
    const part = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, Range: 'bytes=10-19' },
    });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 10-19/${png.length}`);
    expect(part.body).toEqual(png.subarray(10, 20));

    const suffix = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, Range: 'bytes=-5' },
    });
    expect(suffix.status).toBe(206);
    expect(suffix.body).toEqual(png.subarray(png.length - 5));

    const open = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, Range: `bytes=${png.length - 3}-` },
    });
    expect(open.body).toEqual(png.subarray(png.length - 3));

    const beyond = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, Range: `bytes=${png.length}-` },
    });
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${png.length}`);

    const staleIfRange = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, Range: 'bytes=0-0', 'If-Range': '"other"' },
    });
    expect(staleIfRange.status).toBe(200);
    expect(staleIfRange.body.length).toBe(png.length);

    const notModified = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${fileId}/content`,
      headers: { ...headers, 'If-None-Match': `"${sha256(png)}"` },
    });
    expect(notModified.status).toBe(304);

    const head = await rawRequest(h.url, { method: 'HEAD', path: `/v1/files/${fileId}/content`, headers });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(png.length));
    expect(head.body.length).toBe(0);
  });

  it('lists files newest first with a cursor, filtered by purpose', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      h.clock.advance(1000);
      ids.push(
        (await uploadFile(h.url, 'ten_list', { content: Buffer.from(`doc ${i}`), filename: `d${i}.txt` }, { purpose: 'document' })).json()
          .id,
      );
    }
    await uploadFile(h.url, 'ten_list', { content: pngBytes(), filename: 'x.png' }, { purpose: 'image' });
    const first = await request(h.url)
      .get('/v1/files?limit=2&purpose=document')
      .set(auth('ten_list', ['read']));
    expect(first.status).toBe(200);
    expect(first.body.data.map((f: { id: string }) => f.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await request(h.url)
      .get(`/v1/files?limit=2&purpose=document&cursor=${first.body.next_cursor}`)
      .set(auth('ten_list', ['read']));
    expect(second.body.data.map((f: { id: string }) => f.id)).toEqual([ids[0]]);
    expect(second.body.next_cursor).toBeNull();
    const all = await request(h.url)
      .get('/v1/files')
      .set(auth('ten_list', ['read']));
    expect(all.body.data).toHaveLength(4);
    const bad = await request(h.url)
      .get('/v1/files?cursor=nonsense')
      .set(auth('ten_list', ['read']));
    expect(bad.status).toBe(400);
  });

  it('DELETE removes the file, its object and its quota, and emits file.deleted', async () => {
    const up = await uploadFile(h.url, 'ten_del', { content: pngBytes(2000), filename: 'gone.png' });
    const id = up.json().id as string;
    const { storage_key: key } = await h.db.selectFrom('files').select('storage_key').where('id', '=', id).executeTakeFirstOrThrow();
    expect(await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', 'ten_del').executeTakeFirst()).toEqual({
      bytes: 2000,
      files: 1,
    });

    const del = await request(h.url).delete(`/v1/files/${id}`).set(auth('ten_del'));
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id, object: 'file', deleted: true });
    expect((await request(h.url).get(`/v1/files/${id}`).set(auth('ten_del'))).status).toBe(404);
    expect((await request(h.url).delete(`/v1/files/${id}`).set(auth('ten_del'))).status).toBe(404);
    await expect(fs.stat(path.join(h.dataDir, 'objects', key.slice(0, 2), key))).rejects.toThrow();
    expect(await h.db.selectFrom('files').select('id').where('id', '=', id).execute()).toEqual([]);
    expect(await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', 'ten_del').executeTakeFirst()).toEqual({
      bytes: 0,
      files: 0,
    });
    expect(h.events.filter((e) => e.type === 'file.deleted').map((e) => e.data['file_id'])).toContain(id);
  });
});

describe('tenancy: another tenant gets 404 on every route', () => {
  let fileId: string;
  beforeAll(async () => {
    fileId = (await uploadFile(h.url, 'ten_owner', { content: pngBytes(), filename: 'mine.png' })).json().id;
  });

  it.each([
    ['GET', () => `/v1/files/${fileId}`],
    ['GET', () => `/v1/files/${fileId}/content`],
    ['HEAD', () => `/v1/files/${fileId}/content`],
    ['DELETE', () => `/v1/files/${fileId}`],
  ])('%s %s', async (method, pathOf) => {
    const res = await rawRequest(h.url, { method, path: pathOf(), headers: auth('ten_intruder') });
    expect(res.status).toBe(404);
  });

  it('does not list it, and the owner still has it afterwards', async () => {
    const list = await request(h.url).get('/v1/files').set(auth('ten_intruder'));
    expect(list.body.data).toEqual([]);
    expect((await request(h.url).get(`/v1/files/${fileId}`).set(auth('ten_owner'))).status).toBe(200);
  });

  it('an unknown or malformed id is a 404 too', async () => {
    expect((await request(h.url).get('/v1/files/file_doesnotexist00000000000').set(auth('ten_owner'))).status).toBe(404);
    expect((await request(h.url).get('/v1/files/..%2f..%2fetc').set(auth('ten_owner'))).status).toBe(404);
  });
});

describe('internal routes (scope service)', () => {
  let fileId: string;
  const png = pngBytes(1234);
  beforeAll(async () => {
    fileId = (await uploadFile(h.url, 'ten_pipe', { content: png, filename: 'in.png' }, { purpose: 'image' })).json().id;
  });

  it('serve metadata and bytes for the tenant named by tenant_id', async () => {
    const meta = await request(h.url).get(`/internal/v1/files/${fileId}?tenant_id=ten_pipe`).set(serviceHeaders('image-pipeline'));
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({ id: fileId, mime_type: 'image/png', bytes: png.length });
    const content = await rawRequest(h.url, {
      method: 'GET',
      path: `/internal/v1/files/${fileId}/content?tenant_id=ten_pipe`,
      headers: serviceHeaders('image-pipeline'),
    });
    expect(content.status).toBe(200);
    expect(content.body).toEqual(png);
  });

  it('fall back to the service token tenant when tenant_id is absent', async () => {
    const token = signServiceIdentity('image-pipeline', TEST_INTERNAL_SECRET, 'ten_pipe');
    const res = await request(h.url).get(`/internal/v1/files/${fileId}/content`).set('X-Tollgate-Identity', token);
    expect(res.status).toBe(200);
  });

  it('404 for another tenant, 403 for a user credential, 401 without one', async () => {
    expect((await request(h.url).get(`/internal/v1/files/${fileId}?tenant_id=ten_other`).set(serviceHeaders())).status).toBe(404);
    expect((await request(h.url).get(`/internal/v1/files/${fileId}/content?tenant_id=ten_other`).set(serviceHeaders())).status).toBe(404);
    expect((await request(h.url).get(`/internal/v1/files/${fileId}/content`).set(serviceHeaders())).status).toBe(404);
    expect(
      (
        await request(h.url)
          .get(`/internal/v1/files/${fileId}/content?tenant_id=ten_pipe`)
          .set(auth('ten_pipe', ['read', 'write', 'admin']))
      ).status,
    ).toBe(403);
    expect((await request(h.url).get(`/internal/v1/files/${fileId}/content?tenant_id=ten_pipe`)).status).toBe(401);
  });
});

describe('service endpoints', () => {
  it('serves its OpenAPI document and readiness (storage and tus staging checked)', async () => {
    const doc = await request(h.url).get('/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/files',
        '/v1/files/{id}',
        '/v1/files/{id}/content',
        '/v1/uploads',
        '/v1/uploads/{id}',
      ]),
    );
    // Service-to-service routes are documented apart, so the gateway never publishes them.
    expect(Object.keys(doc.body['x-internal-paths'])).toEqual(['/internal/v1/files/{id}', '/internal/v1/files/{id}/content']);
    const ready = await request(h.url).get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.stringify(ready.body)).toContain('storage');
  });
});

describe('the listener of a service that takes streamed uploads', () => {
  it("holds a whole request to UPLOAD_REQUEST_TIMEOUT_MS, not Node's 300 s default", async () => {
    expect(h.config.UPLOAD_REQUEST_TIMEOUT_MS).toBe(3_600_000);
    const config = { ...h.config, UPLOAD_REQUEST_TIMEOUT_MS: 45_000 };
    const running = await startServer({ app: h.app.app, port: 0, host: '127.0.0.1', logger: silentLogger('upload'), ...serverTimeouts(config) });
    try {
      expect(running.server.requestTimeout).toBe(45_000);
      const res = await uploadFile(running.url, 'ten_listener', { content: pngBytes(), filename: 'a.png' });
      expect(res.status).toBe(201);
    } finally {
      await running.shutdown('test');
    }
  });
});
