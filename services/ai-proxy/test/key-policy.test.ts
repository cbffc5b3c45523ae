import { signIdentity } from '@tollgate/common';
import { TEST_INTERNAL_SECRET } from '@tollgate/testkit';
import { FAST_DEFAULTS, startHarness } from './support/harness';

/** A key's model allow-list and its own token limit, as the gateway signs them into the identity. */
describe('key policy from the identity', () => {
  let h: Awaited<ReturnType<typeof startHarness>>;
  const TENANT = 'policy_t';
  const headers = (identity: { models?: string[]; tokensPerMinute?: number } = {}) => ({
    'content-type': 'application/json',
    'X-Tollgate-Identity': signIdentity(
      { tenantId: TENANT, keyId: 'key_policy', scopes: ['read', 'completion'], ...identity },
      TEST_INTERNAL_SECRET,
    ),
  });
  const post = (path: string, body: unknown, identity?: { models?: string[]; tokensPerMinute?: number }) =>
    fetch(`${h.url}${path}`, { method: 'POST', headers: headers(identity), body: JSON.stringify(body) });
  const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  beforeAll(async () => {
    h = await startHarness({
      label: 'ai_key_policy',
      routing: {
        defaults: FAST_DEFAULTS,
        models: {
          small: { price: { input_per_1k: 1, output_per_1k: 1 }, max_output_tokens: 20, targets: [{ provider: 'mock', model: 'small' }] },
          big: { price: { input_per_1k: 1, output_per_1k: 1 }, max_output_tokens: 20, targets: [{ provider: 'mock', model: 'big' }] },
          emb: { type: 'embedding', price: { input_per_1k: 1 }, targets: [{ provider: 'mock', model: 'emb' }] },
        },
      },
    });
    h.fakeCredits!.topUp(TENANT, 1_000_000_000);
  });
  afterAll(() => h?.close());

  it('a model outside allowed_models is absent from /v1/models and 404 model_not_found on chat, embeddings and async', async () => {
    const onlySmall = { models: ['small'] };
    const list = (await (await fetch(`${h.url}/v1/models`, { headers: headers(onlySmall) })).json()) as { data: { id: string }[] };
    expect(list.data.map((m) => m.id)).toEqual(['small']);
    const all = (await (await fetch(`${h.url}/v1/models`, { headers: headers() })).json()) as { data: { id: string }[] };
    expect(all.data.map((m) => m.id).sort()).toEqual(['big', 'emb', 'small']);
    expect((await fetch(`${h.url}/v1/models/big`, { headers: headers(onlySmall) })).status).toBe(404);
    expect((await fetch(`${h.url}/v1/models/small`, { headers: headers(onlySmall) })).status).toBe(200);

    const refusedChat = await post('/v1/chat/completions', chat('big'), onlySmall);
    expect(refusedChat.status).toBe(404);
    expect(((await refusedChat.json()) as any).error).toMatchObject({ code: 'model_not_found', param: 'model', type: 'not_found_error' });
    const refusedEmb = await post('/v1/embeddings', { model: 'emb', input: 'x' }, onlySmall);
    expect(refusedEmb.status).toBe(404);
    expect(((await refusedEmb.json()) as any).error.code).toBe('model_not_found');
    const refusedAsync = await post('/v1/async/chat/completions', chat('big'), onlySmall);
    expect(refusedAsync.status).toBe(404);
    expect(((await refusedAsync.json()) as any).error).toMatchObject({ code: 'NOT_FOUND', details: { reason: 'model_not_found' } });
    // Nothing was held for the refused calls.
    expect(h.fakeCredits?.holds.size ?? 0).toBe(0);

    expect((await post('/v1/chat/completions', chat('small'), onlySmall)).status).toBe(200);
    expect((await post('/v1/chat/completions', chat('big'))).status).toBe(200);
    expect((await post('/v1/async/chat/completions', chat('small'), onlySmall)).status).toBe(202);
  });

  it("the key's own tokens_per_minute replaces the routing file's", async () => {
    const tight = { tokensPerMinute: 1 };
    const res = await post('/v1/chat/completions', chat('small'), tight);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('1');
    expect((await post('/v1/chat/completions', chat('small'), { tokensPerMinute: 1_000_000 })).status).toBe(200);
  });
});
