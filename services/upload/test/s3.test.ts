import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import request from 'supertest';
// s3rver: a local S3-compatible server from the npm registry (pure JavaScript), started by this test.
import S3rver from 's3rver';
import { S3Storage } from '../src/storage';
import { auth, type Harness, pngBytes, rawRequest, startHarness, uploadFile } from './helpers';

const BUCKET = 'tollgate-test';
let s3server: S3rver;
let s3dir: string;
let storage: S3Storage;
let h: Harness;

beforeAll(async () => {
  s3dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tg-s3rver-'));
  s3server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: s3dir,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const address = (await s3server.run()) as AddressInfo;
  storage = new S3Storage({
    bucket: BUCKET,
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${address.port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  h = await startHarness('upload_s3', {
    storage: async () => storage,
    env: { UPLOAD_MAX_BYTES: String(12 * 1024 * 1024), ORPHAN_GRACE_S: '0' },
  });
});
afterAll(async () => {
  await h.close();
  storage.client.destroy();
  await s3server.close();
  await fs.rm(s3dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const bucketKeys = async () =>
  ((await storage.client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key!).sort();
const keyOf = async (id: string) =>
  (await h.db.selectFrom('files').select('storage_key').where('id', '=', id).executeTakeFirstOrThrow()).storage_key;

describe('S3-compatible storage', () => {
  it('stores small and multipart-sized uploads under generated keys and serves them back with ranges', async () => {
    const small = pngBytes(2000);
    const big = pngBytes(9 * 1024 * 1024 + 123); // more than one 8 MiB part
    const a = await uploadFile(h.url, 'ten_s3', { content: small, filename: 's.png' });
    const b = await uploadFile(h.url, 'ten_s3', { content: big, filename: 'b.png' });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.json().sha256).toBe(sha256(big));
    expect(await bucketKeys()).toEqual([`objects/${await keyOf(a.json().id)}`, `objects/${await keyOf(b.json().id)}`].sort());

    const whole = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${b.json().id}/content`, headers: auth('ten_s3') });
    expect(whole.status).toBe(200);
    expect(sha256(whole.body)).toBe(sha256(big));
    const part = await rawRequest(h.url, {
      method: 'GET',
      path: `/v1/files/${a.json().id}/content`,
      headers: { ...auth('ten_s3'), Range: 'bytes=100-199' },
    });
    expect(part.status).toBe(206);
    expect(part.body).toEqual(small.subarray(100, 200));
  });

  it('leaves no object behind when an upload is refused mid-stream', async () => {
    const before = await bucketKeys();
    const over = await uploadFile(h.url, 'ten_s3', { content: pngBytes(12 * 1024 * 1024 + 1), filename: 'over.png' });
    expect(over.status).toBe(413);
    const wrong = await uploadFile(
      h.url,
      'ten_s3',
      { content: Buffer.from('<html><script>x</script></html>'), filename: 'x.png' },
      { purpose: 'image' },
    );
    expect(wrong.status).toBe(415);
    expect(await bucketKeys()).toEqual(before);
  });

  it('completes tus uploads into the bucket and deletes objects with their files', async () => {
    const body = pngBytes(50_000);
    const created = await request(h.url)
      .post('/v1/uploads')
      .set(auth('ten_s3'))
      .set('Tus-Resumable', '1.0.0')
      .set('Upload-Length', String(body.length))
      .set('Upload-Metadata', `filename ${Buffer.from('t.png').toString('base64')}`)
      .set('Content-Type', 'application/offset+octet-stream')
      .send(body);
    expect(created.status).toBe(201);
    const fileId = created.headers['x-tollgate-file-id'] as string;
    const key = await keyOf(fileId);
    expect(await bucketKeys()).toContain(`objects/${key}`);
    const content = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${fileId}/content`, headers: auth('ten_s3') });
    expect(sha256(content.body)).toBe(sha256(body));

    expect((await request(h.url).delete(`/v1/files/${fileId}`).set(auth('ten_s3'))).status).toBe(200);
    expect(await bucketKeys()).not.toContain(`objects/${key}`);
  });

  it('the sweep removes bucket objects no file row knows', async () => {
    const orphan = `objects/${'Q'.repeat(32)}`;
    await storage.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: orphan, Body: 'orphan' }));
    const known = await bucketKeys();
    // 5 s after the put: the bucket stamps it with real time, and the test clock started with the
    // harness (a loaded machine may take longer than 5 s to get here).
    h.clock.advance(Math.max(0, Date.now() - h.clock.now().getTime()) + 5_000);
    const report = await h.app.sweeper.run();
    expect(report.orphanObjects).toBe(1);
    expect(await bucketKeys()).toEqual(known.filter((k) => k !== orphan));
  });
});
