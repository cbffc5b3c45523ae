import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { auth, type Harness, pngBytes, rawRequest, startHarness } from './helpers';

const MAX = 1024 * 1024;
const QUOTA = 2 * 1024 * 1024;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_tus', { env: { UPLOAD_MAX_BYTES: String(MAX), QUOTA_MAX_BYTES: String(QUOTA) } });
});
afterAll(async () => {
  await h.close();
});

const TUS = { 'Tus-Resumable': '1.0.0' };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const metadata = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function create(tenant: string, length: number, meta: Record<string, string>): Promise<request.Response> {
  return request(h.url)
    .post('/v1/uploads')
    .set(auth(tenant))
    .set(TUS)
    .set('Upload-Length', String(length))
    .set('Upload-Metadata', metadata(meta));
}

function patch(tenant: string, location: string, offset: number, body: Buffer, extra: Record<string, string> = {}) {
  return rawRequest(h.url, {
    method: 'PATCH',
    path: location,
    headers: {
      ...auth(tenant),
      ...TUS,
      'Upload-Offset': offset,
      'Content-Type': 'application/offset+octet-stream',
      'Content-Length': body.length,
      ...extra,
    },
    body,
  });
}
const digest = (algorithm: string, b: Buffer) => createHash(algorithm).update(b).digest('base64');

const usage = async (tenant: string) =>
  (await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenant).executeTakeFirst()) ?? {
    bytes: 0,
    files: 0,
  };

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tus 1.0 at /v1/uploads', () => {
  it('OPTIONS advertises the protocol, extensions and max size', async () => {
    const res = await request(h.url).options('/v1/uploads');
    expect(res.status).toBe(204);
    expect(res.headers['tus-resumable']).toBe('1.0.0');
    expect(res.headers['tus-version']).toBe('1.0.0');
    expect(res.headers['tus-extension']).toBe('creation,creation-with-upload,termination,expiration,checksum');
    expect(res.headers['tus-checksum-algorithm']).toBe('sha1,sha256,md5');
    expect(res.headers['tus-max-size']).toBe(String(MAX));
  });

  it('refuses requests without Tus-Resumable (412) and without identity (401)', async () => {
    const noVersion = await request(h.url).post('/v1/uploads').set(auth('ten_tus')).set('Upload-Length', '10');
    expect(noVersion.status).toBe(412);
    expect(noVersion.headers['tus-version']).toBe('1.0.0');
    expect((await request(h.url).post('/v1/uploads').set(TUS).set('Upload-Length', '10')).status).toBe(401);
  });

  it('an upload interrupted halfway and resumed yields the same SHA-256 and a normal file record', async () => {
    const source = pngBytes(600_000);
    const created = await create('ten_tus', source.length, { filename: 'big.png', purpose: 'image' });
    expect(created.status).toBe(201);
    const location = created.headers['location'] as string;
    expect(location).toMatch(/^\/v1\/uploads\/upl_[A-Za-z0-9]{24}$/);
    expect(created.headers['upload-offset']).toBe('0');
    expect(await usage('ten_tus')).toEqual({ bytes: source.length, files: 1 });

    // Send the first half of a PATCH that announces the whole file, then cut the connection.
    const half = 300_000;
    const stagedPath = path.join(h.dataDir, 'tus', location.split('/').pop()!);
    await new Promise<void>((resolve) => {
      const req = http.request(`${h.url}${location}`, {
        method: 'PATCH',
        agent: false,
        headers: {
          ...auth('ten_tus'),
          ...TUS,
          'Upload-Offset': '0',
          'Content-Type': 'application/offset+octet-stream',
          'Content-Length': String(source.length),
        },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(source.subarray(0, half));
      void waitFor(async () => ((await fs.stat(stagedPath)).size >= half ? true : undefined)).then(() => req.destroy());
    });

    const head = await waitFor(async () => {
      const res = await request(h.url).head(location).set(auth('ten_tus')).set(TUS);
      return res.headers['upload-offset'] === String(half) ? res : undefined;
    });
    expect(head.status).toBe(200);
    expect(head.headers['upload-length']).toBe(String(source.length));
    expect(head.headers['upload-metadata']).toBe(metadata({ filename: 'big.png', purpose: 'image' }));
    expect(head.headers['cache-control']).toBe('no-store');

    // A PATCH at a stale offset is a conflict.
    expect((await patch('ten_tus', location, 0, source.subarray(0, 10))).status).toBe(409);

    const rest = await patch('ten_tus', location, half, source.subarray(half));
    expect(rest.status).toBe(204);
    expect(rest.headers['upload-offset']).toBe(String(source.length));
    const fileId = rest.headers['x-tollgate-file-id'] as string;
    expect(fileId).toMatch(/^file_/);

    const file = await request(h.url).get(`/v1/files/${fileId}`).set(auth('ten_tus'));
    expect(file.body).toMatchObject({
      filename: 'big.png',
      purpose: 'image',
      bytes: source.length,
      sha256: sha256(source),
      mime_type: 'image/png',
    });
    const content = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${fileId}/content`, headers: auth('ten_tus') });
    expect(sha256(content.body)).toBe(sha256(source));
    expect(h.events.some((e) => e.type === 'file.uploaded' && (e.data['file'] as { id: string }).id === fileId)).toBe(true);
    expect(await usage('ten_tus')).toEqual({ bytes: source.length, files: 1 });
    await expect(fs.stat(stagedPath)).rejects.toThrow();

    const status = await request(h.url).get(location).set(auth('ten_tus'));
    expect(status.body).toMatchObject({ status: 'completed', offset: source.length, file: { id: fileId } });
    const headAfter = await request(h.url).head(location).set(auth('ten_tus')).set(TUS);
    expect(headAfter.headers['x-tollgate-file-id']).toBe(fileId);
  });

  it('creation-with-upload completes a small file in one request', async () => {
    const text = Buffer.from('# notes\n\nhello\n');
    const res = await request(h.url)
      .post('/v1/uploads')
      .set(auth('ten_tus2'))
      .set(TUS)
      .set('Upload-Length', String(text.length))
      .set('Upload-Metadata', metadata({ filename: 'notes.md', purpose: 'document' }))
      .set('Content-Type', 'application/offset+octet-stream')
      .send(text);
    expect(res.status).toBe(201);
    expect(res.headers['upload-offset']).toBe(String(text.length));
    const file = await request(h.url).get(`/v1/files/${res.headers['x-tollgate-file-id']}`).set(auth('ten_tus2'));
    expect(file.body).toMatchObject({ mime_type: 'text/markdown', sha256: sha256(text) });
  });

  it('checks the type as soon as the first bytes arrive: 415 and the upload is gone', async () => {
    const html = Buffer.from(`<!doctype html><html><script>alert(1)</script>${' '.repeat(10_000)}</html>`);
    const created = await create('ten_tus3', html.length, { filename: 'photo.png', purpose: 'image' });
    const location = created.headers['location'] as string;
    const res = await patch('ten_tus3', location, 0, html.subarray(0, 5000));
    expect(res.status).toBe(415);
    expect(res.json().error.details).toMatchObject({ detected_type: 'text/html' });
    expect((await request(h.url).head(location).set(auth('ten_tus3')).set(TUS)).status).toBe(404);
    expect(await usage('ten_tus3')).toEqual({ bytes: 0, files: 0 });
    expect(await fs.readdir(path.join(h.dataDir, 'tus'))).not.toContain(location.split('/').pop());
  });

  it('checks the extension on completion too (a PNG named .pdf)', async () => {
    const png = pngBytes(100);
    const created = await create('ten_tus3', png.length, { filename: 'doc.pdf' });
    const res = await patch('ten_tus3', created.headers['location'] as string, 0, png);
    expect(res.status).toBe(415);
    expect(res.json().error.details).toMatchObject({ detected_type: 'image/png', extension: 'pdf' });
  });

  it('applies the size limit and the quota at creation, and Upload-Length at PATCH', async () => {
    const tooBig = await create('ten_tus4', MAX + 1, { filename: 'x.png' });
    expect(tooBig.status).toBe(413);
    const first = await create('ten_tus4', MAX, { filename: 'a.png' });
    const second = await create('ten_tus4', MAX, { filename: 'b.png' });
    expect([first.status, second.status]).toEqual([201, 201]);
    const third = await create('ten_tus4', 1, { filename: 'c.txt' });
    expect(third.status).toBe(403);
    expect(third.body.error.details).toMatchObject({ reason: 'quota_exceeded', quota: 'bytes' });

    const small = await create('ten_tus5', 10, { filename: 'a.txt' });
    const over = await patch('ten_tus5', small.headers['location'] as string, 0, Buffer.from('way more than ten bytes'));
    expect(over.status).toBe(413);
    const head = await request(h.url)
      .head(small.headers['location'] as string)
      .set(auth('ten_tus5'))
      .set(TUS);
    expect(head.headers['upload-offset']).toBe('0');
  });

  it('validates headers: Upload-Length required, Content-Type of PATCH, Upload-Offset', async () => {
    expect((await request(h.url).post('/v1/uploads').set(auth('ten_tus6')).set(TUS)).status).toBe(400);
    expect((await request(h.url).post('/v1/uploads').set(auth('ten_tus6')).set(TUS).set('Upload-Defer-Length', '1')).status).toBe(400);
    expect((await request(h.url).post('/v1/uploads').set(auth('ten_tus6')).set(TUS).set('Upload-Length', '-3')).status).toBe(400);
    expect(
      (
        await request(h.url)
          .post('/v1/uploads')
          .set(auth('ten_tus6'))
          .set(TUS)
          .set('Upload-Length', '3')
          .set('Upload-Metadata', 'bad key value extra')
      ).status,
    ).toBe(400);
    const created = await create('ten_tus6', 5, { filename: 'a.txt' });
    const location = created.headers['location'] as string;
    const wrongType = await rawRequest(h.url, {
      method: 'PATCH',
      path: location,
      headers: { ...auth('ten_tus6'), ...TUS, 'Upload-Offset': 0, 'Content-Type': 'text/plain' },
      body: Buffer.from('hello'),
    });
    expect(wrongType.status).toBe(415);
    const noOffset = await rawRequest(h.url, {
      method: 'PATCH',
      path: location,
      headers: { ...auth('ten_tus6'), ...TUS, 'Content-Type': 'application/offset+octet-stream' },
      body: Buffer.from('hello'),
    });
    expect(noOffset.status).toBe(400);
    // X-HTTP-Method-Override: a POST that is really a PATCH.
    const overridden = await rawRequest(h.url, {
      method: 'POST',
      path: location,
      headers: {
        ...auth('ten_tus6'),
        ...TUS,
        'X-HTTP-Method-Override': 'PATCH',
        'Upload-Offset': 0,
        'Content-Type': 'application/offset+octet-stream',
      },
      body: Buffer.from('hello'),
    });
    expect(overridden.status).toBe(204);
    expect(overridden.headers['x-tollgate-file-id']).toMatch(/^file_/);
  });

  it('termination removes the upload, its bytes and its reservation', async () => {
    const created = await create('ten_tus7', 1000, { filename: 'a.txt' });
    const location = created.headers['location'] as string;
    expect((await patch('ten_tus7', location, 0, Buffer.alloc(400, 0x61))).status).toBe(204);
    expect(await usage('ten_tus7')).toEqual({ bytes: 1000, files: 1 });
    const del = await request(h.url).delete(location).set(auth('ten_tus7')).set(TUS);
    expect(del.status).toBe(204);
    expect((await request(h.url).head(location).set(auth('ten_tus7')).set(TUS)).status).toBe(404);
    expect(await usage('ten_tus7')).toEqual({ bytes: 0, files: 0 });
    expect(await fs.readdir(path.join(h.dataDir, 'tus'))).not.toContain(location.split('/').pop());
  });

  it('another tenant gets 404 on HEAD, PATCH, DELETE and GET', async () => {
    const created = await create('ten_tus8', 100, { filename: 'a.txt' });
    const location = created.headers['location'] as string;
    expect((await request(h.url).head(location).set(auth('ten_evil')).set(TUS)).status).toBe(404);
    expect((await patch('ten_evil', location, 0, Buffer.from('x'))).status).toBe(404);
    expect((await request(h.url).delete(location).set(auth('ten_evil')).set(TUS)).status).toBe(404);
    expect((await request(h.url).get(location).set(auth('ten_evil'))).status).toBe(404);
    expect((await request(h.url).head(location).set(auth('ten_tus8')).set(TUS)).status).toBe(200);
  });

  it('checksum extension: a chunk that fails its Upload-Checksum is answered 460 and discarded, a good one is kept', async () => {
    const source = pngBytes(300_000);
    const created = await create('ten_tus_sum', source.length, { filename: 'sum.png', purpose: 'image' });
    const location = created.headers['location'] as string;
    const first = source.subarray(0, 100_000);
    const head = () => request(h.url).head(location).set(auth('ten_tus_sum')).set(TUS);

    // Corrupted on the way: the checksum is of other bytes.
    const corrupt = Buffer.from(first);
    corrupt[5_000] = corrupt[5_000]! ^ 0xff;
    const refused = await patch('ten_tus_sum', location, 0, corrupt, { 'Upload-Checksum': `sha1 ${digest('sha1', first)}` });
    expect(refused.status).toBe(460);
    expect(refused.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: { param: 'Upload-Checksum' } } });
    expect((await head()).headers['upload-offset']).toBe('0');

    // Unknown algorithm or a malformed header: 400, nothing written.
    expect((await patch('ten_tus_sum', location, 0, first, { 'Upload-Checksum': `crc32 ${digest('sha1', first)}` })).status).toBe(400);
    expect((await patch('ten_tus_sum', location, 0, first, { 'Upload-Checksum': 'sha1' })).status).toBe(400);
    expect((await head()).headers['upload-offset']).toBe('0');

    // The same chunk, intact, with each algorithm in turn.
    const ok = await patch('ten_tus_sum', location, 0, first, { 'Upload-Checksum': `sha1 ${digest('sha1', first)}` });
    expect(ok.status).toBe(204);
    expect(ok.headers['upload-offset']).toBe('100000');
    const second = source.subarray(100_000, 200_000);
    expect(
      (await patch('ten_tus_sum', location, 100_000, second, { 'Upload-Checksum': `sha256 ${digest('sha256', second)}` })).status,
    ).toBe(204);
    const third = source.subarray(200_000);
    const last = await patch('ten_tus_sum', location, 200_000, third, { 'Upload-Checksum': `md5 ${digest('md5', third)}` });
    expect(last.status).toBe(204);
    const fileId = last.headers['x-tollgate-file-id'] as string;
    const file = await request(h.url).get(`/v1/files/${fileId}`).set(auth('ten_tus_sum'));
    expect(file.body).toMatchObject({ bytes: source.length, sha256: sha256(source) });
  });

  it('checksum on creation-with-upload: a mismatch leaves the upload at offset 0 to resume', async () => {
    const source = pngBytes(50_000);
    const body = Buffer.from(source);
    body[100] = body[100]! ^ 0xff;
    const res = await rawRequest(h.url, {
      method: 'POST',
      path: '/v1/uploads',
      headers: {
        ...auth('ten_tus_sum2'),
        ...TUS,
        'Upload-Length': source.length,
        'Upload-Metadata': metadata({ filename: 'c.png', purpose: 'image' }),
        'Content-Type': 'application/offset+octet-stream',
        'Content-Length': body.length,
        'Upload-Checksum': `sha256 ${digest('sha256', source)}`,
      },
      body,
    });
    expect(res.status).toBe(460);
    expect(res.headers['upload-offset']).toBe('0');
    const location = res.headers['location'] as string;
    const resumed = await patch('ten_tus_sum2', location, 0, source, { 'Upload-Checksum': `sha256 ${digest('sha256', source)}` });
    expect(resumed.status).toBe(204);
    expect(resumed.headers['x-tollgate-file-id']).toMatch(/^file_/);
  });
});
