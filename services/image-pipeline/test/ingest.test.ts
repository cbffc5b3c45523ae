import { createMetrics, createQueue, createRedis } from '@tollgate/common';
import { identityHeaders, startTcpProxy } from '@tollgate/testkit';
import sharp from 'sharp';
import request from 'supertest';
import { type FakeUpload, startFakeUpload } from './support/fake-upload';
import { createApp } from '../src/app';
import { IMAGE_JOBS_QUEUE } from '../src/jobs/catalogue';
import { createHarness, type Harness } from './support/harness';
import { headerOnlyBomb, makeJpeg, makePng, truncatedPng } from './support/images';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

/** Supertest collects binary bodies into a Buffer with this parser. */
const binary = (res: request.Response, done: (err: Error | null, body: Buffer) => void): void => {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
};

describe('ingest and processing (real Postgres, Redis, sharp)', () => {
  let h: Harness;
  let upload: FakeUpload;
  const tenant = 'ten_ingest_a';
  const auth = identityHeaders(tenant, ['read', 'write']);

  beforeAll(async () => {
    upload = await startFakeUpload();
    h = await createHarness({ label: 'img_ingest', uploadUrl: upload.url });
  });
  afterAll(async () => {
    await h?.close();
    await upload?.close();
  });

  async function ingest(data: Buffer, mime = 'image/png', profile?: string) {
    const fileId = upload.add(tenant, data, mime);
    const res = await request(h.app)
      .post('/v1/images/ingest')
      .set(auth)
      .send({ file_id: fileId, ...(profile ? { profile } : {}) });
    expect(res.status).toBe(202);
    return res.body as { id: string; status: string; source: string };
  }

  it('a 4500×5400 PNG passes apparel; its print variant is 4500×5400 at 300 DPI in sRGB, its thumb a 512 px WebP', async () => {
    const created = await ingest(await makePng(4500, 5400));
    expect(created).toMatchObject({ status: 'queued', source: 'upload' });
    const row = await h.waitForStatus(created.id, ['pending_review', 'failed'], 30_000);
    expect(row.status).toBe('pending_review');
    expect(row.quality).toMatchObject({ passed: true, errors: [], profile: 'apparel' });
    expect(row.quality!.info).toMatchObject({
      width: 4500,
      height: 5400,
      format: 'png',
      has_alpha: true,
      print_size_in: { width: 15, height: 18 },
      effective_dpi: 300,
    });

    const res = await request(h.app).get(`/v1/images/${created.id}`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body.variants.print).toMatchObject({ width: 4500, height: 5400, dpi: 300, content_type: 'image/png' });

    const print = await request(h.app).get(`/v1/images/${created.id}/content?variant=print`).set(auth).buffer(true).parse(binary);
    expect(print.status).toBe(200);
    expect(print.headers['content-type']).toBe('image/png');
    const meta = await sharp(print.body as Buffer).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 4500, height: 5400, density: 300, space: 'srgb', hasAlpha: true });
    expect(meta.icc).toBeDefined();

    const thumb = await request(h.app).get(`/v1/images/${created.id}/content?variant=thumb`).set(auth).buffer(true).parse(binary);
    const thumbMeta = await sharp(thumb.body as Buffer).metadata();
    expect(thumbMeta).toMatchObject({ format: 'webp', height: 512 });

    // The ETag lets a client skip the download next time.
    const again = await request(h.app)
      .get(`/v1/images/${created.id}/content?variant=thumb`)
      .set(auth)
      .set('If-None-Match', String(thumb.headers['etag']));
    expect(again.status).toBe(304);
  });

  it('a 1000×1000 PNG fails apparel with a resolution error naming both sizes, and still gets a preview', async () => {
    const created = await ingest(await makePng(1000, 1000));
    const row = await h.waitForStatus(created.id, ['pending_review', 'failed']);
    expect(row.status).toBe('failed');
    expect(row.failure_code).toBe('QUALITY_CHECK_FAILED');
    expect(row.failure_message).toContain('1000×1000');
    expect(row.failure_message).toContain('4500×5400');
    expect(row.quality!.errors).toEqual([expect.objectContaining({ code: 'RESOLUTION_TOO_LOW' })]);
    expect(row.variants.thumb).toBeDefined();
    expect(row.variants.print).toBeUndefined();
    const res = await request(h.app).get(`/v1/images/${created.id}`).set(auth);
    expect(res.body.failure).toEqual({ code: 'QUALITY_CHECK_FAILED', message: expect.stringContaining('4500×5400') });
    const missing = await request(h.app).get(`/v1/images/${created.id}/content?variant=print`).set(auth);
    expect(missing.status).toBe(404);
  });

  it('a truncated PNG and a 30000×30000 header-only bomb end failed, and the worker goes on working', async () => {
    const truncated = await ingest(await truncatedPng(), 'image/png', 'sticker');
    const bomb = await ingest(headerOnlyBomb(), 'image/png', 'sticker');
    const [t, b] = await Promise.all([
      h.waitForStatus(truncated.id, ['failed', 'pending_review']),
      h.waitForStatus(bomb.id, ['failed', 'pending_review']),
    ]);
    expect(t).toMatchObject({ status: 'failed', failure_code: 'CORRUPT_IMAGE' });
    expect(t.failure_message).toMatch(/corrupt or truncated/);
    expect(b).toMatchObject({ status: 'failed', failure_code: 'IMAGE_TOO_LARGE' });
    expect(b.failure_message).toContain('30000×30000');

    // Permanent failures are not retried: each job ran once.
    const jobs = await h.queue.getJobs(['failed']);
    const bombJob = jobs.find((j) => j.data.image_id === bomb.id);
    expect(bombJob?.attemptsMade).toBe(1);

    expect(h.worker!.isRunning()).toBe(true);
    const next = await ingest(await makeJpeg(1300, 1300), 'image/jpeg', 'sticker');
    const ok = await h.waitForStatus(next.id, ['failed', 'pending_review']);
    expect(ok.status).toBe('pending_review');
    expect(ok.quality!.info.format).toBe('jpeg');
    expect(ok.variants.print).toMatchObject({ width: 1200, height: 1200, dpi: 300 });
  });

  it('refuses formats outside PNG/JPEG/WebP by their bytes, whatever the declared type', async () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="5000" height="6000"><rect width="10" height="10"/></svg>');
    const a = await ingest(gif, 'image/png');
    const b = await ingest(svg, 'image/png');
    expect(await h.waitForStatus(a.id, 'failed')).toMatchObject({ failure_code: 'UNSUPPORTED_FORMAT' });
    expect(await h.waitForStatus(b.id, 'failed')).toMatchObject({ failure_code: 'UNSUPPORTED_FORMAT' });
  });

  it('strips anything appended to the source from the variants', async () => {
    const secret = Buffer.from('APPENDED-SECRET-PAYLOAD'.repeat(10));
    const created = await ingest(Buffer.concat([await makePng(1200, 1200), secret]), 'image/png', 'sticker');
    const row = await h.waitForStatus(created.id, ['pending_review', 'failed']);
    expect(row.status).toBe('pending_review');
    const print = await request(h.app).get(`/v1/images/${created.id}/content?variant=print`).set(auth).buffer(true).parse(binary);
    expect((print.body as Buffer).includes(Buffer.from('APPENDED-SECRET'))).toBe(false);
    const original = await request(h.app).get(`/v1/images/${created.id}/content?variant=original`).set(auth).buffer(true).parse(binary);
    expect((original.body as Buffer).includes(Buffer.from('APPENDED-SECRET'))).toBe(true);
  });

  it("another tenant's file is not found; a non-image is 415; bad bodies are 400; scopes are checked", async () => {
    const othersFile = upload.add('ten_ingest_b', await makePng(100, 100));
    const notMine = await request(h.app).post('/v1/images/ingest').set(auth).send({ file_id: othersFile });
    expect(notMine.status).toBe(404);
    expect(notMine.body.error.code).toBe('NOT_FOUND');

    const pdf = upload.add(tenant, Buffer.from('%PDF-1.4'), 'application/pdf');
    const unsupported = await request(h.app).post('/v1/images/ingest').set(auth).send({ file_id: pdf });
    expect(unsupported.status).toBe(415);

    const bad = await request(h.app).post('/v1/images/ingest').set(auth).send({ file: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const badProfile = await request(h.app).post('/v1/images/ingest').set(auth).send({ file_id: pdf, profile: 'nope' });
    expect(badProfile.status).toBe(400);

    expect((await request(h.app).post('/v1/images/ingest').send({ file_id: pdf })).status).toBe(401);
    expect(
      (
        await request(h.app)
          .post('/v1/images/ingest')
          .set(identityHeaders(tenant, ['read']))
          .send({ file_id: pdf })
      ).status,
    ).toBe(403);
    // The upload service was asked as this tenant, with a service identity.
    expect(upload.requests.every((r) => r.tenant === tenant || r.tenant === 'ten_ingest_b')).toBe(true);
  });

  it('with Redis away, an ingest is answered 202 at the enqueue deadline and processed once Redis is back', async () => {
    // An API whose queue connection goes through a proxy we can cut; the harness worker keeps
    // its own connection and picks the job up once the add lands.
    const redisUrl = new URL(h.env.redisUrl);
    const proxy = await startTcpProxy(Number(redisUrl.port || 6379), redisUrl.hostname);
    redisUrl.port = String(proxy.port);
    const connection = createRedis(redisUrl.toString(), 'queue');
    const queue = createQueue(IMAGE_JOBS_QUEUE, { connection, prefix: h.env.prefix });
    const { app } = createApp({
      ...h.deps,
      config: { ...h.config, ENQUEUE_WAIT_MS: 300 },
      queue,
      metrics: createMetrics('image-pipeline', { collectDefault: false }),
    });
    try {
      await queue.waitUntilReady();
      const fileId = upload.add(tenant, await makePng(4500, 5400), 'image/png');
      await proxy.stop();
      const started = Date.now();
      const res = await request(app).post('/v1/images/ingest').set(auth).send({ file_id: fileId });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ status: 'queued' });
      expect(Date.now() - started).toBeLessThan(5_000);
      await proxy.start();
      const row = await h.waitForStatus(res.body.id, ['pending_review', 'failed'], 30_000);
      expect(row.status).toBe('pending_review');
    } finally {
      connection.disconnect();
      await queue.close().catch(() => undefined);
      await proxy.close();
    }
  });
});
