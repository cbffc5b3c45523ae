import { identityHeaders } from '@tollgate/testkit';
import { startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** Bad input and missing or weak credentials get clear 4xx in OpenAI's error shape, before anything is billed. */
describe('validation and access', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  const tenant = 'val_tenant';
  const post = (path: string, body: unknown, headers: Record<string, string> = identityHeaders(tenant)) =>
    fetch(`${h.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const expectOpenAiError = async (res: Response, status: number, type: string) => {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { message: string; type: string; code: string; param: string | null } };
    expect(body.error.type).toBe(type);
    expect(typeof body.error.message).toBe('string');
    expect(typeof body.error.code).toBe('string');
    return body.error;
  };
  const user = (content: unknown) => ({ model: 'm', messages: [{ role: 'user', content }] });

  beforeAll(async () => {
    h = await startHarness({
      label: 'ai_validation',
      env: { MAX_PROMPT_CHARS: '1000' },
      routing: {
        models: {
          m: { price: { input_per_1k: 1 }, targets: [{ provider: 'mock', model: 'm' }] },
          e: { type: 'embedding', price: { input_per_1k: 1 }, targets: [{ provider: 'mock', model: 'e' }] },
        },
      },
    });
    h.fakeCredits!.topUp(tenant, 1_000_000);
  });
  afterAll(() => h.close());

  it('requires an identity (401) with the completion scope (403)', async () => {
    await expectOpenAiError(await post('/v1/chat/completions', user('hi'), {}), 401, 'authentication_error');
    await expectOpenAiError(await post('/v1/chat/completions', user('hi'), identityHeaders(tenant, ['read'])), 403, 'permission_error');
    await expectOpenAiError(
      await post('/v1/chat/completions', user('hi'), { 'X-Tollgate-Identity': 'forged.token.here' }),
      401,
      'authentication_error',
    );
    const models = await fetch(`${h.url}/v1/models`);
    await expectOpenAiError(models, 401, 'authentication_error');
  });

  it.each([
    ['malformed JSON', '{"model": "m", "messages": [', 'invalid_request_error'],
    ['no messages', { model: 'm', messages: [] }, 'invalid_request_error'],
    ['an unknown role', { model: 'm', messages: [{ role: 'wizard', content: 'x' }] }, 'invalid_request_error'],
    ['a bad content part', user([{ type: 'video', url: 'x' }]), 'invalid_request_error'],
    ['a tool message without tool_call_id', { model: 'm', messages: [{ role: 'tool', content: 'x' }] }, 'invalid_request_error'],
    ['a bad tool name', { ...user('x'), tools: [{ type: 'function', function: { name: 'has spaces' } }] }, 'invalid_request_error'],
    ['temperature out of range', { ...user('x'), temperature: 3 }, 'invalid_request_error'],
    ['n > 1', { ...user('x'), n: 2 }, 'invalid_request_error'],
    ['a null byte', user('evil\u0000byte'), 'invalid_request_error'],
    ['a prompt over the size cap', user('y'.repeat(1_001)), 'invalid_request_error'],
    ['an embedding model used for chat', { model: 'e', messages: [{ role: 'user', content: 'x' }] }, 'invalid_request_error'],
  ])('refuses %s with 400, before anything is held', async (_name, body, type) => {
    const holdsBefore = h.fakeCredits!.holds.size;
    const error = await expectOpenAiError(await post('/v1/chat/completions', body), 400, type);
    expect(error.message).not.toMatch(/at .*\.ts:\d+/);
    expect(h.fakeCredits!.holds.size).toBe(holdsBefore);
  });

  it('names the offending field in param', async () => {
    const error = await expectOpenAiError(
      await post('/v1/chat/completions', { ...user('x'), temperature: 3 }),
      400,
      'invalid_request_error',
    );
    expect(error.param).toBe('temperature');
  });

  it('refuses unknown models with 404 and bad embeddings input with 400', async () => {
    await expectOpenAiError(await post('/v1/chat/completions', { ...user('x'), model: 'nope' }), 404, 'not_found_error');
    await expectOpenAiError(await post('/v1/embeddings', { model: 'e', input: [] }), 400, 'invalid_request_error');
    await expectOpenAiError(await post('/v1/embeddings', { model: 'm', input: 'x' }), 400, 'invalid_request_error');
  });

  it('accepts image parts, developer messages and tool definitions', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'm',
      messages: [
        { role: 'developer', content: 'be nice' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } },
          ],
        },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('Echo: what is this?');
  });
});

describe('OpenAPI document', () => {
  it('describes every public route as OpenAPI 3.1', async () => {
    const h = await startHarness({
      label: 'ai_openapi',
      routing: { models: { m: { price: { input_per_1k: 1 }, targets: [{ provider: 'mock', model: 'm' }] } } },
    });
    try {
      const doc = (await (await fetch(`${h.url}/openapi.json`)).json()) as {
        openapi: string;
        paths: Record<string, unknown>;
        components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
      };
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths).sort()).toEqual([
        '/v1/admin/usage',
        '/v1/async/chat/completions',
        '/v1/async/jobs/{id}',
        '/v1/chat/completions',
        '/v1/embeddings',
        '/v1/models',
        '/v1/models/{model}',
        '/v1/usage',
        '/v1/usage/export',
        '/v1/usage/requests',
      ]);
      expect(Object.keys(doc.components.schemas['ChatCompletionRequest']!.properties!)).toEqual(
        expect.arrayContaining(['model', 'messages', 'stream', 'tools']),
      );
    } finally {
      await h.close();
    }
  });
});
