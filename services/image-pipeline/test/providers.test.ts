import type { IncomingMessage, ServerResponse } from 'node:http';
import { identityHeaders, listen, type Listening, readBody } from '@tollgate/testkit';
import sharp from 'sharp';
import request from 'supertest';
import { GeneratorError } from '../src/generation/generator';
import { createOpenAiGenerator, providerSize } from '../src/generation/openai-generator';
import { createHttpPublisher } from '../src/publishing/publisher';
import { createHarness, type Harness } from './support/harness';
import { seedImage } from './support/seed';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

/** A tiny scripted HTTP upstream: replies are used in order, then `fallback` forever. */
async function scriptedServer(fallback: Reply): Promise<Listening & { requests: Recorded[]; script: Reply[] }> {
  const requests: Recorded[] = [];
  const script: Reply[] = [];
  const server = await listen((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((raw) => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : {},
      });
      const reply = script.shift() ?? fallback;
      if (Buffer.isBuffer(reply.body)) {
        res.writeHead(reply.status, { 'content-type': 'image/png', ...reply.headers });
        res.end(reply.body);
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(reply.body));
    });
  });
  return Object.assign(server, { requests, script });
}

describe('HTTP publisher (Printify-like) with retries', () => {
  let h: Harness;
  let printify: Awaited<ReturnType<typeof scriptedServer>>;
  const tenant = 'ten_printify';
  const auth = identityHeaders(tenant, ['read', 'write']);

  beforeAll(async () => {
    printify = await scriptedServer({ status: 200, body: { id: 'pf_default', preview_url: 'https://images.example/pf_default.png' } });
    h = await createHarness({
      label: 'img_publish_http',
      publisher: ({ storage }) =>
        createHttpPublisher({ baseUrl: printify.url, token: 'printify-token', timeoutMs: 2000, retries: 2, retryBaseMs: 5, storage }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await printify?.close();
  });

  it('retries a 503 and publishes the print file, authenticated, with the image id as idempotency key', async () => {
    const image = await seedImage(h, tenant, 'approved');
    printify.requests.length = 0;
    printify.script.push(
      { status: 503, body: { error: 'busy' }, headers: { 'retry-after': '0' } },
      { status: 200, body: { id: 'pf_123', preview_url: 'https://images.example/pf_123.png' } },
    );
    const res = await request(h.app).post(`/v1/images/${image.id}/publish`).set(auth).send({});
    expect(res.status).toBe(202);
    const row = await h.waitForStatus(image.id, ['published', 'publish_failed']);
    expect(row.publication).toMatchObject({ publisher: 'http', external_id: 'pf_123', url: 'https://images.example/pf_123.png' });
    expect(printify.requests).toHaveLength(2);
    const sent = printify.requests[1]!;
    expect(sent).toMatchObject({ method: 'POST', url: '/v1/uploads/images.json' });
    expect(sent.headers['authorization']).toBe('Bearer printify-token');
    expect(sent.headers['idempotency-key']).toBe(`publish-${image.id}`);
    expect(sent.body['file_name']).toBe(`${image.id}.png`);
    const file = Buffer.from(String(sent.body['contents']), 'base64');
    expect((await sharp(file).metadata()).density).toBe(300);
  });

  it('a refusal (4xx) fails the publish at once; publishing again from publish_failed works', async () => {
    const image = await seedImage(h, tenant, 'approved');
    printify.requests.length = 0;
    printify.script.push({ status: 422, body: { error: 'image too small' } });
    await request(h.app).post(`/v1/images/${image.id}/publish`).set(auth).send({});
    const failed = await h.waitForStatus(image.id, ['published', 'publish_failed']);
    expect(failed).toMatchObject({ status: 'publish_failed', failure_code: 'PUBLISH_FAILED' });
    expect(failed.failure_message).toContain('422');
    expect(printify.requests).toHaveLength(1);

    const again = await request(h.app).post(`/v1/images/${image.id}/publish`).set(auth).send({});
    expect(again.status).toBe(202);
    const published = await h.waitForStatus(image.id, ['published', 'publish_failed']);
    expect(published).toMatchObject({ status: 'published', publish_attempt: 2, failure_code: null });
  });

  it('a publisher that stays down ends publish_failed after the configured attempts', async () => {
    const image = await seedImage(h, tenant, 'approved');
    printify.requests.length = 0;
    for (let i = 0; i < 20; i++) printify.script.push({ status: 502, body: {} });
    await request(h.app).post(`/v1/images/${image.id}/publish`).set(auth).send({});
    const row = await h.waitForStatus(image.id, ['published', 'publish_failed']);
    expect(row.status).toBe('publish_failed');
    expect(row.failure_message).toMatch(/after 3 attempts/);
    // 3 job attempts × (1 call + 2 in-call retries)
    expect(printify.requests).toHaveLength(9);
    printify.script.length = 0;
  });
});

describe('OpenAI-compatible images provider', () => {
  let provider: Awaited<ReturnType<typeof scriptedServer>>;
  let png: Buffer;

  beforeAll(async () => {
    png = await sharp({ create: { width: 1024, height: 1024, channels: 4, background: '#20a0f0' } })
      .png()
      .toBuffer();
    provider = await scriptedServer({ status: 200, body: { created: 1, data: [{ b64_json: png.toString('base64') }] } });
  });
  afterAll(async () => {
    await provider?.close();
  });

  const generator = () =>
    createOpenAiGenerator({
      baseUrl: `${provider.url}/v1`,
      apiKey: 'sk-test',
      models: ['gpt-image-1', 'dall-e-3'],
      timeoutMs: 2000,
      maxBytes: 10_000_000,
    });
  const ask = {
    prompt: 'a teapot',
    width: 4500,
    height: 5400,
    seed: 1,
    index: 0,
    transparent: true,
    idempotencyKey: 'image-generation-img_x',
  };

  it('sends an OpenAI images request and decodes b64_json', async () => {
    provider.requests.length = 0;
    const out = await generator().generate({ ...ask, model: 'gpt-image-1' });
    expect(out.data.equals(png)).toBe(true);
    expect(provider.requests[0]).toMatchObject({
      url: '/v1/images/generations',
      body: { model: 'gpt-image-1', prompt: 'a teapot', n: 1, size: '1024x1536', background: 'transparent' },
    });
    expect(provider.requests[0]!.headers['authorization']).toBe('Bearer sk-test');
    expect(providerSize('dall-e-3', 1000, 500)).toBe('1792x1024');
    expect(providerSize('unknown', 1000, 500)).toBe('1024x1024');
  });

  it('downloads a url answer; 429/5xx are retryable, 400 is a refusal', async () => {
    provider.script.push({ status: 200, body: { data: [{ url: `${provider.url}/files/1.png` }] } }, { status: 200, body: png });
    expect((await generator().generate({ ...ask, model: 'dall-e-3' })).data.equals(png)).toBe(true);

    provider.script.push({ status: 429, body: { error: { message: 'slow down' } }, headers: { 'retry-after': '2' } });
    await expect(generator().generate({ ...ask, model: 'dall-e-3' })).rejects.toMatchObject({ retryable: true, retryAfterMs: 2000 });
    provider.script.push({
      status: 400,
      body: { error: { message: 'Your request was rejected by the safety system', code: 'content_policy_violation' } },
    });
    const refused = await generator()
      .generate({ ...ask, model: 'dall-e-3' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GeneratorError);
    expect(refused).toMatchObject({ retryable: false, code: 'GENERATION_REFUSED', message: expect.stringContaining('safety system') });
  });

  it('drives the pipeline end to end with a configured print profile', async () => {
    const profiles = JSON.stringify({ web: { width: 1024, height: 1024, dpi: 300, alpha: true } });
    const h = await createHarness({
      label: 'img_openai',
      generator: generator(),
      env: { GENERATION_PRICE: '0', PRINT_PROFILES: profiles },
    });
    try {
      const res = await request(h.app)
        .post('/v1/images/generations')
        .set(identityHeaders('ten_openai', ['generation']))
        .send({ prompt: 'a teapot', profile: 'web', model: 'gpt-image-1' });
      expect(res.status).toBe(202);
      const row = await h.waitForStatus(res.body.image_ids[0], ['pending_review', 'failed']);
      expect(row.status).toBe('pending_review');
      expect(row.variants.print).toMatchObject({ width: 1024, height: 1024, dpi: 300 });
    } finally {
      await h.close();
    }
  });
});
