import path from 'node:path';
import { ConfigError, createMetrics, parseConfig, Readiness, workerOnlyService } from '@tollgate/common';
import { identityHeaders, TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import request from 'supertest';
import { configSchema } from '../src/config';
import { createHarness, type Harness } from './support/harness';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

const base = { NODE_ENV: 'test', INTERNAL_JWT_SECRET: TEST_INTERNAL_SECRET };

describe('config', () => {
  it('has the print profiles of the issue by default and stores under DATA_DIR/images', () => {
    const config = parseConfig(configSchema, { ...base, DATA_DIR: '/var/lib/tollgate' });
    expect(config.PRINT_PROFILES['apparel']).toMatchObject({
      width: 4500,
      height: 5400,
      dpi: 300,
      alpha: true,
      min_width: 4500,
      min_height: 5400,
    });
    expect(config.PRINT_PROFILES['poster']).toMatchObject({ dpi: 300, alpha: false });
    expect(config.IMAGE_STORAGE_DIR).toBe(path.resolve('/var/lib/tollgate/images'));
    expect(config).toMatchObject({
      IMAGE_JOBS_CONCURRENCY: 2,
      IMAGE_GENERATOR: 'builtin',
      PUBLISHER: 'local',
      MAX_INPUT_PIXELS: 100_000_000,
    });
  });

  it('merges PRINT_PROFILES over the defaults', () => {
    const config = parseConfig(configSchema, {
      ...base,
      PRINT_PROFILES: JSON.stringify({
        apparel: { width: 3600, height: 4800, alpha: true, min_width: 1800, min_height: 2400 },
        canvas: { width: 6000, height: 6000 },
      }),
    });
    expect(config.PRINT_PROFILES['apparel']).toMatchObject({ width: 3600, min_width: 1800 });
    expect(config.PRINT_PROFILES['canvas']).toMatchObject({ width: 6000, dpi: 300, fit: 'contain' });
    expect(config.PRINT_PROFILES['sticker']).toBeDefined();
  });

  it.each([
    [{ PRINT_PROFILES: '{not json' }, /PRINT_PROFILES must be a JSON object/],
    [{ PRINT_PROFILES: JSON.stringify({ tiny: { width: 1 } }) }, /PRINT_PROFILES is invalid/],
    [{ DEFAULT_PROFILE: 'billboard' }, /DEFAULT_PROFILE names no print profile/],
    [{ PUBLISHER: 'http' }, /PUBLISHER_HTTP_URL is required/],
    [{ IMAGE_GENERATOR: 'openai' }, /OPENAI_IMAGES_API_KEY is required/],
    [{ IMAGE_JOBS_CONCURRENCY: '0' }, /IMAGE_JOBS_CONCURRENCY/],
  ])('refuses %j with one clear line', (env, message) => {
    let error: unknown;
    try {
      parseConfig(configSchema, { ...base, ...env });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('service surface', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ label: 'img_surface', worker: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves health, metrics and an OpenAPI 3.1 document of its /v1 routes', async () => {
    expect((await request(h.app).get('/healthz')).body).toMatchObject({ status: 'ok', service: 'image-pipeline' });
    const doc = await request(h.app).get('/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/images/generations',
        '/v1/images/ingest',
        '/v1/images',
        '/v1/images/{id}',
        '/v1/images/{id}/content',
        '/v1/images/{id}/approve',
        '/v1/images/batch/{action}',
      ]),
    );
    expect(doc.body.components.schemas.GenerationRequest.properties.n).toMatchObject({ minimum: 1, maximum: 25 });
    expect((await request(h.app).get('/metrics')).text).toContain('http_requests_total');
  });

  it('a worker-only process answers health but not the API', async () => {
    const { app } = workerOnlyService('image-pipeline', { logger: h.deps.logger, metrics: createMetrics('image-pipeline', { collectDefault: false }), readiness: new Readiness() });
    expect((await request(app).get('/healthz')).status).toBe(200);
    expect(
      (
        await request(app)
          .get('/v1/images')
          .set(identityHeaders('t', ['read']))
      ).status,
    ).toBe(404);
  });
});
