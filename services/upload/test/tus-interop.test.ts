/**
 * Interop with the reference tus client, tus-js-client (its Node build, from npm), against our
 * tus server: the client builds every request (headers, URLs, offsets, metadata encoding,
 * resume logic); the test only steers it. Deterministic: an interruption is placed at an exact
 * byte by a body that stalls there, and every wait is for a condition, not for time.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import * as tus from 'tus-js-client';
import { auth, type Harness, pngBytes, startHarness } from './helpers';

const MAX = 1024 * 1024;
const CHUNK = 128 * 1024;

let h: Harness;
let endpoint: string;
beforeAll(async () => {
  h = await startHarness('upload_tus_interop', { env: { UPLOAD_MAX_BYTES: String(MAX), QUOTA_MAX_BYTES: String(4 * MAX) } });
  endpoint = `${h.url}/v1/uploads`;
});
afterAll(async () => {
  await h.close();
});

/** The Node build's file-backed URL storage (exported by the module, missing from its typings). */
type UrlStorage = NonNullable<tus.UploadOptions['urlStorage']>;
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (file: string) => UrlStorage };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const uploadIdOf = (url: string) => url.split('/').pop()!;
const stagedPath = (url: string) => path.join(h.dataDir, 'tus', uploadIdOf(url));

/**
 * A PNG as file-type reads one (signature, IHDR, then an IDAT chunk header) whose IDAT data is
 * random filler, so a misplaced chunk cannot go unnoticed.
 */
function randomPng(size: number): Buffer {
  const head = pngBytes().subarray(0, 33);
  const idat = Buffer.alloc(8);
  idat.writeUInt32BE(size - head.length - 8);
  idat.write('IDAT', 4, 'ascii');
  return Buffer.concat([head, idat, randomBytes(size - head.length - idat.length)]);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The server's view of an upload, through our (non-tus) JSON route, which never waits on the lock. */
const progress = async (tenant: string, url: string) =>
  (
    await request(h.url)
      .get(`/v1/uploads/${uploadIdOf(url)}`)
      .set(auth(tenant))
  ).body as { offset: number; status: string };

const usage = async (tenant: string) =>
  (await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenant).executeTakeFirst()) ?? {
    bytes: 0,
    files: 0,
  };

interface Sent {
  method: string;
  offset?: string;
  checksum?: string;
}

/**
 * The options every test gives the client: our identity header, no retries unless a test asks
 * (a retry waits on a timer), and a log of what the client sent and got.
 */
function clientOptions(
  tenant: string,
  log: { sent: Sent[]; statuses: number[] },
  extra: Partial<tus.UploadOptions> = {},
): tus.UploadOptions {
  return {
    endpoint,
    headers: auth(tenant),
    chunkSize: CHUNK,
    retryDelays: null,
    ...extra,
    onBeforeRequest: async (req) => {
      await extra.onBeforeRequest?.(req);
      log.sent.push({ method: req.getMethod(), offset: req.getHeader('Upload-Offset'), checksum: req.getHeader('Upload-Checksum') });
    },
    onAfterResponse: async (req, res) => {
      log.statuses.push(res.getStatus());
      await extra.onAfterResponse?.(req, res);
    },
  };
}

/** Run an upload to its end: resolves with the last response, rejects with the client's error. */
function run(upload: tus.Upload): Promise<tus.HttpResponse> {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = ({ lastResponse }) => resolve(lastResponse);
    upload.options.onError = reject;
    upload.start();
  });
}

/**
 * The client's own HTTP stack, except that one PATCH (the `nth`) delivers only its first
 * `bytes` bytes and then goes quiet, like a network that stalls halfway through a chunk. The
 * request still announces the whole chunk's Content-Length, so the server is mid-body when the
 * client aborts.
 */
class StallingStack implements tus.HttpStack {
  private readonly inner = new tus.DefaultHttpStack({});
  private patches = 0;
  stalled?: Promise<void>;
  constructor(
    private readonly nth: number,
    private readonly bytes: number,
  ) {}
  getName(): string {
    return 'StallingStack';
  }
  createRequest(method: string, url: string): tus.HttpRequest {
    const req = this.inner.createRequest(method, url);
    if (method !== 'PATCH' || ++this.patches !== this.nth) return req;
    const send = req.send.bind(req);
    req.send = (body: Buffer) => {
      const stalling = new PassThrough();
      (stalling as unknown as { size: number }).size = body.length; // the stack's Content-Length
      stalling.write(body.subarray(0, this.bytes));
      this.stalled = Promise.resolve();
      return send(stalling as never);
    };
    return req;
  }
}

describe('tus-js-client against /v1/uploads', () => {
  it('creates, uploads in chunks, is cut mid-chunk, and a new client resumes from the server offset; same bytes', async () => {
    const tenant = 'ten_interop';
    const source = randomPng(600_000);
    const urlStorage = new FileUrlStorage(path.join(h.dataDir, 'tus-js-client-urls.json'));
    const metadata = { filename: 'über photo.png', purpose: 'image' };

    // First client: chunks 1 and 2 go through; chunk 3 stalls 50,000 bytes in, then the client aborts.
    const stall = 50_000;
    const cutAt = 2 * CHUNK + stall;
    const stack = new StallingStack(3, stall);
    const first = { sent: [] as Sent[], statuses: [] as number[] };
    const upload1 = new tus.Upload(source, clientOptions(tenant, first, { metadata, urlStorage, httpStack: stack }));
    upload1.options.onError = (err) => {
      throw err;
    };
    upload1.start();
    const url: string = await waitFor(async () => upload1.url ?? undefined, 'the upload URL');
    expect(url).toMatch(new RegExp(`^${h.url}/v1/uploads/upl_[A-Za-z0-9]+$`));
    // The server has the stalled chunk's first bytes on disk: cut the connection mid-body.
    await waitFor(async () => ((await fs.stat(stagedPath(url))).size >= cutAt ? true : undefined), 'the staged bytes');
    await upload1.abort();
    expect(first.sent.map((s) => [s.method, s.offset])).toEqual([
      ['POST', undefined],
      ['PATCH', '0'],
      ['PATCH', String(CHUNK)],
      ['PATCH', String(2 * CHUNK)],
    ]);
    expect(first.statuses).toEqual([201, 204, 204]); // the third PATCH never got an answer
    // The server keeps what reached it (tus core: no checksum on this chunk) once the cut PATCH settles.
    await waitFor(async () => ((await progress(tenant, url)).offset === cutAt ? true : undefined), 'the offset of the cut PATCH');

    // Second client, a new instance: finds the upload by the file's fingerprint, asks the server
    // for its offset (HEAD) and sends the rest from there.
    const second = { sent: [] as Sent[], statuses: [] as number[] };
    const headOffsets: string[] = [];
    const upload2 = new tus.Upload(
      source,
      clientOptions(tenant, second, {
        metadata,
        urlStorage,
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'HEAD') headOffsets.push(res.getHeader('Upload-Offset') ?? '');
        },
      }),
    );
    const previous = await upload2.findPreviousUploads();
    expect(previous).toHaveLength(1);
    expect(previous[0]!.uploadUrl).toBe(url);
    upload2.resumeFromPreviousUpload(previous[0]!);
    const last = await run(upload2);
    expect(upload2.url).toBe(url);
    expect(headOffsets).toEqual([String(cutAt)]);
    expect(second.sent.map((s) => [s.method, s.offset])).toEqual([
      ['HEAD', undefined],
      ['PATCH', String(cutAt)],
      ['PATCH', String(cutAt + CHUNK)],
      ['PATCH', String(cutAt + 2 * CHUNK)],
    ]);
    expect(last.getHeader('Upload-Offset')).toBe(String(source.length));

    // The same bytes, through the files API and in storage.
    const fileId = last.getHeader('X-Tollgate-File-Id') ?? '';
    expect(fileId).toMatch(/^file_/);
    const file = await request(h.url).get(`/v1/files/${fileId}`).set(auth(tenant));
    expect(file.body).toMatchObject({ filename: 'über photo.png', purpose: 'image', bytes: source.length, sha256: sha256(source) });
    const content = await request(h.url)
      .get(`/v1/files/${fileId}/content`)
      .set(auth(tenant))
      .buffer(true)
      .parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    expect(Buffer.compare(content.body as Buffer, source)).toBe(0);
    const row = await h.db.selectFrom('files').select('storage_key').where('id', '=', fileId).executeTakeFirstOrThrow();
    const stored = await h.storage.read(row.storage_key);
    const storedBytes: Buffer[] = [];
    for await (const chunk of stored) storedBytes.push(chunk as Buffer);
    expect(Buffer.compare(Buffer.concat(storedBytes), source)).toBe(0);
    expect(await usage(tenant)).toEqual({ bytes: source.length, files: 1 });
    await expect(fs.stat(stagedPath(url))).rejects.toThrow();

    // A third client for the same file finds it finished: HEAD says offset = length, nothing sent.
    const third = { sent: [] as Sent[], statuses: [] as number[] };
    const upload3 = new tus.Upload(source, clientOptions(tenant, third, { metadata, urlStorage }));
    upload3.resumeFromPreviousUpload((await upload3.findPreviousUploads())[0]!);
    const done = await run(upload3);
    expect(third.sent.map((s) => s.method)).toEqual(['HEAD']);
    expect(done.getHeader('X-Tollgate-File-Id')).toBe(fileId);
  });

  it('checksum: the client adds Upload-Checksum in onBeforeRequest; a corrupt chunk is answered 460, kept out, and resent', async () => {
    // tus-js-client computes no checksum itself; onBeforeRequest sees each request before its
    // body goes out and knows the offset, so it can sign the chunk it is about to send.
    const tenant = 'ten_interop_sum';
    const source = randomPng(400_000);
    const algorithms = ['sha1', 'sha256', 'md5'];
    let corruptOnce = true;
    const log = { sent: [] as Sent[], statuses: [] as number[] };
    const headOffsets: string[] = [];
    const upload = new tus.Upload(
      source,
      clientOptions(tenant, log, {
        metadata: { filename: 'sum.png', purpose: 'image' },
        uploadDataDuringCreation: true, // the first chunk rides on the POST, with its checksum
        onBeforeRequest: (req) => {
          const carriesChunk = req.getMethod() === 'PATCH' || req.getHeader('Content-Type') === 'application/offset+octet-stream';
          if (!carriesChunk) return;
          const offset = Number(req.getHeader('Upload-Offset') ?? 0);
          const chunk = source.subarray(offset, offset + CHUNK);
          const algorithm = algorithms[(offset / CHUNK) % algorithms.length]!;
          // The second chunk's first attempt: a digest of other bytes, as if the body had been
          // corrupted on the way.
          const signed = offset === CHUNK && corruptOnce ? Buffer.concat([chunk.subarray(1), Buffer.from([0])]) : chunk;
          if (offset === CHUNK) corruptOnce = false;
          req.setHeader('Upload-Checksum', `${algorithm} ${createHash(algorithm).update(signed).digest('base64')}`);
        },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'HEAD') headOffsets.push(res.getHeader('Upload-Offset') ?? '');
        },
        // 460 is a 4xx, which the client does not retry by default; a checksum mismatch is
        // corruption in transit, worth one more try.
        retryDelays: [0],
        onShouldRetry: (err) => err.originalResponse?.getStatus() === 460,
      }),
    );
    const last = await run(upload);
    expect(log.sent.map((s) => [s.method, s.offset, s.checksum?.split(' ')[0]])).toEqual([
      ['POST', undefined, 'sha1'],
      ['PATCH', String(CHUNK), 'sha256'],
      ['HEAD', undefined, undefined],
      ['PATCH', String(CHUNK), 'sha256'],
      ['PATCH', String(2 * CHUNK), 'md5'],
      ['PATCH', String(3 * CHUNK), 'sha1'],
    ]);
    expect(log.statuses).toEqual([201, 460, 200, 204, 204, 204]);
    expect(headOffsets).toEqual([String(CHUNK)]); // the refused chunk left nothing behind
    const fileId = last.getHeader('X-Tollgate-File-Id') ?? '';
    const file = await request(h.url).get(`/v1/files/${fileId}`).set(auth(tenant));
    expect(file.body).toMatchObject({ bytes: source.length, sha256: sha256(source), mime_type: 'image/png' });
  });

  it('termination: abort(true) in the middle of a PATCH deletes the upload, its bytes, its quota and the stored URL', async () => {
    const tenant = 'ten_interop_del';
    const source = randomPng(300_000);
    const urlFile = path.join(h.dataDir, 'tus-js-client-del.json');
    const urlStorage = new FileUrlStorage(urlFile);
    const stack = new StallingStack(1, 20_000);
    const log = { sent: [] as Sent[], statuses: [] as number[] };
    const upload = new tus.Upload(source, clientOptions(tenant, log, { metadata: { filename: 'gone.png' }, urlStorage, httpStack: stack }));
    upload.options.onError = (err) => {
      throw err;
    };
    upload.start();
    const url: string = await waitFor(async () => upload.url ?? undefined, 'the upload URL');
    await waitFor(async () => ((await fs.stat(stagedPath(url))).size >= 20_000 ? true : undefined), 'the staged bytes');
    expect(await usage(tenant)).toEqual({ bytes: source.length, files: 1 });

    // No retries: the DELETE that follows the aborted PATCH must succeed the first time.
    await upload.abort(true);
    expect(log.sent.map((s) => s.method)).toEqual(['POST', 'PATCH', 'DELETE']);
    expect(log.statuses).toEqual([201, 204]);
    expect((await request(h.url).head(new URL(url).pathname).set(auth(tenant)).set('Tus-Resumable', '1.0.0')).status).toBe(404);
    expect(await usage(tenant)).toEqual({ bytes: 0, files: 0 });
    await expect(fs.stat(stagedPath(url))).rejects.toThrow();
    expect(JSON.parse(await fs.readFile(urlFile, 'utf8'))).toEqual({}); // the client's fingerprint entry is gone
  });

  it('termination: Upload.terminate(url) between chunks; a client holding the dead URL starts a new upload', async () => {
    const tenant = 'ten_interop_del2';
    const source = randomPng(300_000);
    const urlStorage = new FileUrlStorage(path.join(h.dataDir, 'tus-js-client-del2.json'));
    const metadata = { filename: 'again.png', purpose: 'image' };

    // One chunk in, then stop (between requests, from the client's own callback).
    const first = { sent: [] as Sent[], statuses: [] as number[] };
    const upload1 = new tus.Upload(source, clientOptions(tenant, first, { metadata, urlStorage }));
    const oneChunk = new Promise<void>((resolve, reject) => {
      upload1.options.onChunkComplete = () => {
        void upload1.abort().then(resolve);
      };
      upload1.options.onError = reject;
    });
    upload1.start();
    await oneChunk;
    const url = upload1.url!;
    expect((await progress(tenant, url)).offset).toBe(CHUNK);

    await tus.Upload.terminate(url, { headers: auth(tenant), retryDelays: null });
    expect(await usage(tenant)).toEqual({ bytes: 0, files: 0 });
    await expect(fs.stat(stagedPath(url))).rejects.toThrow();

    // The stored URL is stale now: HEAD is a 404, the client drops it and creates a new upload.
    const second = { sent: [] as Sent[], statuses: [] as number[] };
    const upload2 = new tus.Upload(source, clientOptions(tenant, second, { metadata, urlStorage }));
    const previous = await upload2.findPreviousUploads();
    expect(previous.map((p) => p.uploadUrl)).toEqual([url]);
    upload2.resumeFromPreviousUpload(previous[0]!);
    const last = await run(upload2);
    expect(second.sent.map((s) => s.method)).toEqual(['HEAD', 'POST', 'PATCH', 'PATCH', 'PATCH']);
    expect(second.statuses[0]).toBe(404);
    expect(upload2.url).not.toBe(url);
    const file = await request(h.url)
      .get(`/v1/files/${last.getHeader('X-Tollgate-File-Id')}`)
      .set(auth(tenant));
    expect(file.body).toMatchObject({ bytes: source.length, sha256: sha256(source) });
    expect((await upload2.findPreviousUploads()).map((p) => p.uploadUrl)).toEqual([upload2.url]);
  });

  it('parallelUploads (concatenation, not offered): refused at creation, no stray partial files or quota', async () => {
    // tus-js-client does not read Tus-Extension: with parallelUploads it sends partial uploads
    // (Upload-Concat: partial) and then a final one. Taken as plain uploads, each half became a
    // file of its own and the final POST failed; now the first POSTs are refused.
    const tenant = 'ten_interop_concat';
    const source = randomPng(200_000);
    const log = { sent: [] as Sent[], statuses: [] as number[] };
    const upload = new tus.Upload(source, clientOptions(tenant, log, { metadata: { filename: 'halves.png' }, parallelUploads: 2 }));
    const err = (await run(upload).then(
      () => undefined,
      (e: unknown) => e,
    )) as tus.DetailedError;
    expect(err.originalResponse?.getStatus()).toBe(400);
    expect(JSON.parse(err.originalResponse!.getBody())).toMatchObject({
      error: { code: 'VALIDATION_FAILED', details: { param: 'Upload-Concat' } },
    });
    expect(log.sent.every((s) => s.method === 'POST')).toBe(true);
    // Both partial POSTs were answered (the client reports the first error, the other may still
    // be on its way): wait for the second answer before looking at the tenant's state.
    await waitFor(async () => (log.statuses.length === 2 ? true : undefined), 'both partial POSTs');
    expect(log.statuses).toEqual([400, 400]);
    expect((await request(h.url).get('/v1/files').set(auth(tenant))).body.data).toEqual([]);
    expect(await usage(tenant)).toEqual({ bytes: 0, files: 0 });
    expect(await fs.readdir(path.join(h.dataDir, 'tus'))).toEqual(expect.not.arrayContaining([expect.stringMatching(/^upl_/)]));
  });
});
