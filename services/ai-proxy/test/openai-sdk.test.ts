import { identityHeaders, startFakeOpenAi, type FakeOpenAi } from '@tollgate/testkit';
import OpenAI from 'openai';
import { listUsageForTenant } from '../src/usage/repository';
import { startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** The official `openai` npm client, unchanged, against the proxy. */
describe('ai-proxy with the official openai SDK', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  let upstream: FakeOpenAi;
  const tenant = 'tenant_sdk';

  const client = (tenantId = tenant) =>
    new OpenAI({ apiKey: 'unused-by-the-proxy', baseURL: `${h.url}/v1`, defaultHeaders: identityHeaders(tenantId), maxRetries: 0 });

  beforeAll(async () => {
    upstream = await startFakeOpenAi();
    h = await startHarness({
      label: 'ai_sdk',
      routing: {
        models: {
          'gpt-test': {
            price: { input_per_1k: 1_000, output_per_1k: 2_000 },
            max_output_tokens: 256,
            targets: [{ provider: 'openai', model: 'fake-model', base_url: `${upstream.url}/v1` }],
          },
          'embed-test': {
            type: 'embedding',
            price: { input_per_1k: 100 },
            targets: [{ provider: 'openai', model: 'fake-embed', base_url: `${upstream.url}/v1` }],
          },
          'mock-embed': { type: 'embedding', price: { input_per_1k: 100 }, targets: [{ provider: 'mock', model: 'mock-embed' }] },
          'private-model': { price: { input_per_1k: 1 }, tenants: ['someone_else'], targets: [{ provider: 'mock', model: 'm' }] },
        },
      },
    });
    h.fakeCredits!.topUp(tenant, 10_000_000);
  });

  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  beforeEach(() => upstream.reset());

  it('completes a chat and reports cost and usage in headers', async () => {
    const before = await h.credits.balance(tenant);
    const { data, response } = await client()
      .chat.completions.create({
        model: 'gpt-test',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'Hello there' },
        ],
      })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(data.choices[0]!.message.content).toBe('Echo: Hello there');
    expect(data.choices[0]!.finish_reason).toBe('stop');
    const usage = data.usage!;
    expect(usage.prompt_tokens).toBeGreaterThan(0);
    const expectedCost = Math.ceil((usage.prompt_tokens * 1_000 + usage.completion_tokens * 2_000) / 1_000);
    expect(Number(response.headers.get('x-tollgate-cost'))).toBe(expectedCost);
    expect(response.headers.get('x-tollgate-prompt-tokens')).toBe(String(usage.prompt_tokens));
    const after = await h.credits.balance(tenant);
    expect(before.available - after.available).toBe(expectedCost);
    expect(after.held).toBe(0);
    // Upstream got its own model name and our output cap.
    const sent = upstream.requests[0]!.body as { model: string; max_tokens: number };
    expect(sent.model).toBe('fake-model');
    expect(sent.max_tokens).toBe(256);
  });

  it('streams chunks with for await, ending with a usage chunk that carries the cost', async () => {
    const stream = await client().chat.completions.create({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'one two three four' }],
    });
    let text = '';
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe('Echo: one two three four');
    expect(chunks.length).toBeGreaterThan(4);
    const ids = new Set(chunks.map((c) => c.id));
    expect(ids.size).toBe(1);
    const last = chunks[chunks.length - 1]!;
    expect(last.choices).toEqual([]);
    const usage = last.usage as OpenAI.CompletionUsage & { cost: number };
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.cost).toBe(Math.ceil((usage.prompt_tokens * 1_000 + usage.completion_tokens * 2_000) / 1_000));
    expect(chunks.some((c) => c.choices[0]?.finish_reason === 'stop')).toBe(true);
  });

  it('does not send a usage chunk when the client did not ask for one', async () => {
    const stream = await client().chat.completions.create({ model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length === 1 && c.usage === undefined)).toBe(true);
    // but the upstream was asked for usage, for billing
    expect((upstream.requests[0]!.body as { stream_options: unknown }).stream_options).toEqual({ include_usage: true });
  });

  it('counts tokens itself when the upstream reports no usage, streamed or not', async () => {
    upstream.behave({ omitUsage: true, times: 2 });
    const stream = await client().chat.completions.create({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count these words yourself' }],
    });
    let text = '';
    let usage: (OpenAI.CompletionUsage & { cost?: number }) | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    // Completion: the streamed characters / 4; prompt: our estimate (4 per message + 3 + text / 4).
    expect(usage).toMatchObject({
      completion_tokens: Math.ceil(text.length / 4),
      prompt_tokens: 3 + 4 + Math.ceil('count these words yourself'.length / 4),
    });
    expect(usage!.cost).toBe(Math.ceil((usage!.prompt_tokens * 1_000 + usage!.completion_tokens * 2_000) / 1_000));

    const { data, response } = await client()
      .chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'and these' }] })
      .withResponse();
    expect(data.usage).toMatchObject({ completion_tokens: Math.ceil('Echo: and these'.length / 4) });
    expect(Number(response.headers.get('x-tollgate-cost'))).toBe(
      Math.ceil((data.usage!.prompt_tokens * 1_000 + data.usage!.completion_tokens * 2_000) / 1_000),
    );
  });

  it('creates embeddings (the SDK asks for base64 and decodes it)', async () => {
    const res = await client().embeddings.create({ model: 'embed-test', input: ['alpha', 'beta'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]!.embedding).toHaveLength(8);
    expect(typeof res.data[0]!.embedding[0]).toBe('number');
    expect(res.usage.prompt_tokens).toBe(3); // ceil(5/4) + ceil(4/4), counted by the upstream
    const viaMock = await client().embeddings.create({ model: 'mock-embed', input: 'alpha' });
    expect(viaMock.data[0]!.embedding).toHaveLength(16);
    const again = await client().embeddings.create({ model: 'mock-embed', input: 'alpha', encoding_format: 'float' });
    expect(again.data[0]!.embedding.map((v) => Math.round(v * 1e4))).toEqual(viaMock.data[0]!.embedding.map((v) => Math.round(v * 1e4)));
  });

  it('refuses a tenant without credits with a 402 the SDK raises as its own APIError', async () => {
    const err = await client('tenant_broke')
      .chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const apiError = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(402);
    expect(apiError.code).toBe('insufficient_credits');
    expect(apiError.type).toBe('insufficient_quota');
    expect(upstream.requests).toHaveLength(0);
    await h.app.usage.flush();
    const rows = await listUsageForTenant(h.env.db, 'tenant_broke');
    expect(rows.map((r) => r.outcome)).toEqual(['insufficient_credits']);
  });

  it('answers bad input with 400 in OpenAI shape (SDK BadRequestError)', async () => {
    const err = await client()
      .chat.completions.create({ model: 'gpt-test', messages: [{ role: 'wizard', content: 'x' } as never] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).type).toBe('invalid_request_error');
    const notFound = await client()
      .chat.completions.create({ model: 'private-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('lists only the models this tenant may use', async () => {
    const page = await client().models.list();
    const ids = page.data.map((m) => m.id).sort();
    expect(ids).toEqual(['embed-test', 'gpt-test', 'mock-embed']);
    const other = await client('someone_else').models.list();
    expect(other.data.map((m) => m.id)).toContain('private-model');
    const one = await client().models.retrieve('gpt-test');
    expect(one.id).toBe('gpt-test');
  });

  it('writes a usage row per call', async () => {
    await client().chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'row please' }] });
    await h.app.usage.flush();
    const rows = await listUsageForTenant(h.env.db, tenant);
    const last = rows[rows.length - 1]!;
    expect(last).toMatchObject({
      tenant_id: tenant,
      key_id: 'key_test',
      model: 'gpt-test',
      target: 'openai:fake-model',
      provider: 'openai',
      outcome: 'success',
      kind: 'chat',
      attempts: 1,
    });
    expect(last.cost).toBeGreaterThan(0);
    expect(last.request_id).toBeTruthy();
  });
});
