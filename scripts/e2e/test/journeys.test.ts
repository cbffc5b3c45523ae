import OpenAI from 'openai';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { startMesh, startWebhookReceiver, type Mesh, type WebhookReceiver } from '@tollgate/testkit';
import { type Api, apiClient, createTenant, eventually } from '../src/api';

/**
 * The platform as a user meets it: every call through the edge gateway of the real six-process
 * mesh, webhooks received and verified by an independent Standard Webhooks implementation.
 */
describe('user journeys through the gateway', () => {
  let mesh: Mesh;
  let api: Api;
  let receiver: WebhookReceiver;
  let tenantA: { tenantId: string; key: string; keyId: string };
  let tenantB: { tenantId: string; key: string; keyId: string };
  let webhookSecret: string;
  let endpointId: string;
  const resources: { fileId?: string; imageId?: string; asyncJobId?: string } = {};

  type Delivered = { id: string; type: string; data: Record<string, unknown> };
  /** Every delivery so far, verified; throws on a bad signature. */
  const verifiedEvents = (): Delivered[] => {
    const wh = new Webhook(webhookSecret);
    return receiver.received
      .filter((r) => r.answeredStatus < 300)
      .map((r) => {
        const payload = wh.verify(r.rawBody, {
          'webhook-id': String(r.headers['webhook-id']),
          'webhook-timestamp': String(r.headers['webhook-timestamp']),
          'webhook-signature': String(r.headers['webhook-signature']),
        }) as { type: string; data: Record<string, unknown> };
        return { id: String(r.headers['webhook-id']), type: payload.type, data: payload.data };
      });
  };
  const waitForEvent = (match: (e: Delivered) => boolean, what: string) => eventually(async () => verifiedEvents().find(match), what, 30_000);

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    mesh = await startMesh();
    api = apiClient(mesh.gatewayUrl);
  }, 90_000);
  afterAll(async () => {
    await mesh?.stop();
    await receiver?.close();
  }, 60_000);

  it('1. an admin creates a tenant, a key and credits; the tenant registers a webhook endpoint', async () => {
    tenantA = await createTenant(api, mesh.adminToken, 'acme');
    tenantB = await createTenant(api, mesh.adminToken, 'globex');
    expect(tenantA.key).toMatch(/^tg_/);
    const topUp = await api('POST', `/v1/admin/tenants/${tenantA.tenantId}/credits`, { token: mesh.adminToken, json: { amount: 2_000_000, reason: 'welcome credits' } });
    expect(topUp.status).toBe(201);
    // A threshold just under the balance (mock-1 calls cost tens of micro-credits): the first
    // completion's hold crosses it.
    const threshold = await api('PUT', `/v1/admin/tenants/${tenantA.tenantId}/credits/threshold`, { token: mesh.adminToken, json: { threshold: 1_999_990 } });
    expect(threshold.status).toBe(200);
    const endpoint = await api('POST', '/v1/webhooks/endpoints', { token: tenantA.key, json: { url: `${receiver.url}/hooks`, event_types: ['*'] } });
    expect(endpoint.status).toBe(201);
    expect(endpoint.body.secret).toMatch(/^whsec_/);
    webhookSecret = endpoint.body.secret;
    endpointId = endpoint.body.id;
    const balance = await api('GET', '/v1/credits/balance', { token: tenantA.key });
    expect(balance.body).toMatchObject({ tenant_id: tenantA.tenantId, available: 2_000_000, held: 0, currency: 'credits' });
  });

  it('2. chat completions with the openai SDK, streamed and not, cost exactly what the balance lost', async () => {
    const client = new OpenAI({ apiKey: tenantA.key, baseURL: `${mesh.gatewayUrl}/v1`, maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('mock-1');

    const { data: completion, response } = await client.chat.completions
      .create({ model: 'mock-1', messages: [{ role: 'user', content: 'Say hello to the ledger' }], max_tokens: 64 })
      .withResponse();
    expect(completion.choices[0]!.message.content).toEqual(expect.any(String));
    const firstCost = Number(response.headers.get('x-tollgate-cost'));
    expect(firstCost).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({
      model: 'mock-1',
      messages: [{ role: 'user', content: 'Stream me a few words please' }],
      max_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usageChunk: (OpenAI.Chat.Completions.ChatCompletionChunk & { usage?: { cost?: number } }) | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usageChunk = chunk as typeof usageChunk;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usageChunk?.usage?.total_tokens).toBeGreaterThan(0);
    const streamCost = Number((usageChunk?.usage as { cost?: unknown } | undefined)?.cost ?? (usageChunk as unknown as { cost?: unknown })?.cost);
    expect(streamCost).toBeGreaterThan(0);

    const settled = await eventually(async () => {
      const b = await api('GET', '/v1/credits/balance', { token: tenantA.key });
      return b.body.held === 0 ? b.body : undefined;
    }, 'holds to settle');
    expect(settled.available).toBe(2_000_000 - firstCost - streamCost);

    const low = await waitForEvent((e) => e.type === 'credits.low_balance', 'credits.low_balance webhook');
    expect(low.data).toMatchObject({ tenant_id: tenantA.tenantId });
    expect(verifiedEvents().filter((e) => e.type === 'credits.low_balance')).toHaveLength(1);
  });

  it('3. an async completion ends in a completion.completed webhook', async () => {
    const queued = await api('POST', '/v1/async/chat/completions', { token: tenantA.key, json: { model: 'mock-1', messages: [{ role: 'user', content: 'later, please' }], max_tokens: 32 } });
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ id: expect.any(String), status: expect.any(String), status_url: expect.any(String) });
    resources.asyncJobId = queued.body.id;
    const event = await waitForEvent((e) => e.type === 'completion.completed' && JSON.stringify(e.data).includes(queued.body.id), 'completion.completed webhook');
    expect(event.data).toBeDefined();
    const job = await api('GET', `/v1/async/jobs/${queued.body.id}`, { token: tenantA.key });
    expect(job.status).toBe(200);
    expect(job.body.status).toBe('succeeded');
  });

  it('4. an uploaded image is ingested, checked, given variants, approved in a batch and published, with webhooks in order', async () => {
    const png = await sharp({ create: { width: 1200, height: 1200, channels: 4, background: { r: 200, g: 40, b: 90, alpha: 1 } } }).png().toBuffer();
    const form = new FormData();
    form.append('purpose', 'image');
    form.append('file', new Blob([png], { type: 'image/png' }), 'artwork.png');
    const uploaded = await api('POST', '/v1/files', { token: tenantA.key, body: form });
    expect(uploaded.status).toBe(201);
    resources.fileId = uploaded.body.id;

    const ingested = await api('POST', '/v1/images/ingest', { token: tenantA.key, json: { file_id: uploaded.body.id, profile: 'sticker' } });
    expect([201, 202]).toContain(ingested.status);
    const imageId: string = ingested.body.id ?? ingested.body.image?.id;
    resources.imageId = imageId;
    const ready = await eventually(async () => {
      const img = await api('GET', `/v1/images/${imageId}`, { token: tenantA.key });
      if (img.body.status === 'failed') throw new Error(`image failed: ${JSON.stringify(img.body)}`);
      return img.body.status === 'pending_review' ? img.body : undefined;
    }, 'the image to reach review', 60_000);
    expect(ready.status).toBe('pending_review');

    const print = await fetch(`${mesh.gatewayUrl}/v1/images/${imageId}/content?variant=print`, { headers: { authorization: `Bearer ${tenantA.key}` } });
    expect(print.status).toBe(200);
    const printMeta = await sharp(Buffer.from(await print.arrayBuffer())).metadata();
    expect(printMeta).toMatchObject({ width: 1200, height: 1200, density: 300 });
    const thumb = await fetch(`${mesh.gatewayUrl}/v1/images/${imageId}/content?variant=thumb`, { headers: { authorization: `Bearer ${tenantA.key}` } });
    expect(thumb.status).toBe(200);
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).format).toBe('webp');

    const batch = await api('POST', '/v1/images/batch/approve', { token: tenantA.key, json: { image_ids: [imageId] } });
    expect(batch.status).toBe(200);
    expect(batch.body.counts).toMatchObject({ successful: 1 });
    const publish = await api('POST', `/v1/images/${imageId}/publish`, { token: tenantA.key, json: {} });
    expect([200, 202]).toContain(publish.status);
    await eventually(async () => {
      const img = await api('GET', `/v1/images/${imageId}`, { token: tenantA.key });
      return img.body.status === 'published' ? img.body : undefined;
    }, 'the image to be published', 60_000);

    await waitForEvent((e) => e.type === 'image.published' && JSON.stringify(e.data).includes(imageId), 'image.published webhook');
    const forImage = verifiedEvents().filter((e) => e.type.startsWith('image.') && JSON.stringify(e.data).includes(imageId)).map((e) => e.type);
    expect(forImage).toEqual(['image.generation.completed', 'image.approved', 'image.published']);
    await waitForEvent((e) => e.type === 'batch.completed', 'batch.completed webhook');
    await waitForEvent((e) => e.type === 'file.uploaded' && JSON.stringify(e.data).includes(uploaded.body.id), 'file.uploaded webhook');
  });

  it('5. another tenant can see or touch none of the first tenant’s resources', async () => {
    const b = tenantB.key;
    const tries: [string, string, unknown?][] = [
      ['GET', `/v1/files/${resources.fileId}`],
      ['GET', `/v1/files/${resources.fileId}/content`],
      ['DELETE', `/v1/files/${resources.fileId}`],
      ['GET', `/v1/images/${resources.imageId}`],
      ['GET', `/v1/images/${resources.imageId}/content?variant=original`],
      ['POST', `/v1/images/${resources.imageId}/reject`, { reason: 'not mine' }],
      ['POST', '/v1/images/ingest', { file_id: resources.fileId, profile: 'sticker' }],
      ['GET', `/v1/async/jobs/${resources.asyncJobId}`],
      ['GET', `/v1/webhooks/endpoints/${endpointId}`],
      ['PATCH', `/v1/webhooks/endpoints/${endpointId}`, { description: 'hijacked' }],
      ['POST', `/v1/webhooks/endpoints/${endpointId}/rotate-secret`, {}],
      ['POST', `/v1/webhooks/endpoints/${endpointId}/test`, {}],
      ['GET', `/v1/webhooks/endpoints/${endpointId}/deliveries`],
      ['DELETE', `/v1/webhooks/endpoints/${endpointId}`],
    ];
    for (const [method, path, json] of tries) {
      const res = await api(method, path, { token: b, ...(json !== undefined ? { json } : {}) });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
    const batch = await api('POST', '/v1/images/batch/delete', { token: b, json: { image_ids: [resources.imageId] } });
    expect(batch.body.counts?.successful ?? 0).toBe(0);
    const lists = await Promise.all(['/v1/files', '/v1/images', '/v1/webhooks/endpoints', '/v1/credits/transactions'].map((p) => api('GET', p, { token: b })));
    for (const list of lists) expect(list.body.data).toEqual([]);
    const balance = await api('GET', '/v1/credits/balance', { token: b });
    expect(balance.body).toMatchObject({ tenant_id: tenantB.tenantId, available: 0 });
    // The admin routes are not a tenant's to call.
    expect((await api('POST', `/v1/admin/tenants/${tenantA.tenantId}/credits`, { token: b, json: { amount: 5, reason: 'x' } })).status).toBe(403);
    // And the first tenant's things are all still there.
    expect((await api('GET', `/v1/files/${resources.fileId}`, { token: tenantA.key })).status).toBe(200);
    expect((await api('GET', `/v1/webhooks/endpoints/${endpointId}`, { token: tenantA.key })).body.description ?? null).not.toBe('hijacked');
  });

  it('5b. every route of the published API that names a first-tenant resource answers another tenant 404 (403 on admin routes)', async () => {
    const b = tenantB.key;
    const tus = { 'Tus-Resumable': '1.0.0' };
    // One resource of the first tenant for each kind of id a public path can name.
    const upload = await api('POST', '/v1/uploads', { token: tenantA.key, headers: { ...tus, 'Upload-Length': '4' } });
    expect(upload.status).toBe(201);
    const uploadId = String(upload.headers.get('location')).split('/').pop()!;
    const deliveries = await api('GET', `/v1/webhooks/endpoints/${endpointId}/deliveries`, { token: tenantA.key });
    const deliveryId: string = deliveries.body.data[0].id;
    const generation = await api('POST', '/v1/images/generations', { token: tenantA.key, json: { prompt: 'a red square', profile: 'sticker' } });
    expect(generation.status).toBe(202);
    const ids: [RegExp, string][] = [
      [/^\/v1\/files\/\{\w+\}/, resources.fileId!],
      [/^\/v1\/uploads\/\{\w+\}/, uploadId],
      [/^\/v1\/images\/generations\/\{\w+\}/, generation.body.id],
      [/^\/v1\/images\/\{\w+\}\/\{\w+\}$/, `${resources.imageId}/reject`],
      [/^\/v1\/images\/\{\w+\}/, resources.imageId!],
      [/^\/v1\/async\/jobs\/\{\w+\}/, resources.asyncJobId!],
      [/^\/v1\/webhooks\/endpoints\/\{\w+\}/, endpointId],
      [/^\/v1\/webhooks\/deliveries\/\{\w+\}/, deliveryId],
      [/^\/v1\/admin\/tenants\/\{\w+\}/, tenantA.tenantId],
      [/^\/v1\/admin\/keys\/\{\w+\}/, tenantA.keyId],
    ];
    // A body each route accepts, so what answers is the ownership check, not validation.
    const validBodyFor = (method: string, path: string): Record<string, unknown> => {
      if (path.endsWith('/reject')) return { reason: 'not mine' };
      if (path.endsWith('/credits')) return { amount: 5, reason: 'not mine' };
      if (path.endsWith('/threshold')) return { threshold: 5 };
      if (path.endsWith('/replay')) return { since: new Date(Date.now() - 3_600_000).toISOString() };
      if (method === 'patch' && path.startsWith('/v1/webhooks/endpoints/')) return { description: 'hijacked' };
      if (method === 'patch' && path.startsWith('/v1/admin/tenants/')) return { name: 'hijacked' };
      return {};
    };
    // Not one tenant's resource: the model catalogue, and batch actions (checked above per image).
    const shared = /^\/v1\/(models\/|images\/batch\/)/;
    const doc = (await api('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const tried: string[] = [];
    for (const [template, operations] of Object.entries(doc.paths)) {
      if (!template.includes('{') || shared.test(template)) continue;
      const match = ids.find(([pattern]) => pattern.test(template));
      expect({ template, resource: match ? 'known' : 'none' }).toEqual({ template, resource: 'known' });
      const [pattern, id] = match!;
      const path = template.replace(pattern, (m) => m.replace(/\{\w+\}(\/\{\w+\})?/, id));
      for (const method of Object.keys(operations).filter((m) => ['get', 'post', 'put', 'patch', 'delete', 'head'].includes(m))) {
        const write = ['post', 'put', 'patch'].includes(method);
        const res = await api(method.toUpperCase(), path, {
          token: b,
          headers: path.startsWith('/v1/uploads/') ? { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' } : {},
          ...(write && !path.startsWith('/v1/uploads/') ? { json: validBodyFor(method, path) } : {}),
          ...(write && path.startsWith('/v1/uploads/') ? { body: 'abcd' } : {}),
        });
        const expected = path.startsWith('/v1/admin/') ? 403 : 404;
        expect({ method, path, status: res.status }).toEqual({ method, path, status: expected });
        tried.push(`${method} ${template}`);
      }
    }
    expect(tried.length).toBeGreaterThanOrEqual(20);
    // Every operation the services publish is in the gateway's route table: none is answered by
    // the gateway's own "no route" (which a service's 404 for another tenant's id would hide).
    for (const [template, operations] of Object.entries(doc.paths)) {
      const path = template.replace(/\{\w+\}/g, 'x_0001');
      for (const method of Object.keys(operations).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))) {
        const res = await api(method.toUpperCase(), path, { token: b, headers: tus, ...(['post', 'put', 'patch'].includes(method) ? { json: {} } : {}) });
        expect({ method, template, gatewayHasNoRoute: res.body?.error?.details?.reason === 'no_route' }).toEqual({ method, template, gatewayHasNoRoute: false });
      }
    }
    // The first tenant's things are untouched.
    expect((await api('GET', `/v1/uploads/${uploadId}`, { token: tenantA.key, headers: tus })).status).toBe(200);
    expect((await api('GET', `/v1/images/${resources.imageId}`, { token: tenantA.key })).body.status).toBe('published');
  });

  it('6. one request’s trace id shows up in the log lines of every service it touched', async () => {
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const requestId = `trace-journey-${Date.now()}`;
    const res = await api('POST', '/v1/chat/completions', {
      token: tenantA.key,
      json: { model: 'mock-1', messages: [{ role: 'user', content: 'trace me' }], max_tokens: 16 },
      headers: { traceparent: `00-${traceId}-1111111111111111-01`, 'x-request-id': requestId },
    });
    expect(res.status).toBe(200);
    const touched = ['edge-gateway', 'ai-proxy', 'credits'] as const;
    const lines = await eventually(async () => {
      const found = Object.fromEntries(touched.map((s) => [s, mesh.logs[s].filter((l) => l['request_id'] === requestId)]));
      return touched.every((s) => found[s]!.length > 0) ? found : undefined;
    }, 'log lines from gateway, ai-proxy and credits');
    for (const service of touched) {
      expect({ service, traceIds: [...new Set(lines[service]!.map((l) => l['trace_id']))] }).toEqual({ service, traceIds: [traceId] });
    }
  });
});
