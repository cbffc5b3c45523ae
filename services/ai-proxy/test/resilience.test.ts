import { identityHeaders, parseSse, startFakeOpenAi, type FakeOpenAi } from '@tollgate/testkit';
import { listUsageForTenant } from '../src/usage/repository';
import { FAST_DEFAULTS, metricValue, startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** Retries, Retry-After, timeouts, fallbacks, breakers, deadlines and mid-stream failures, each asserted. */
describe('resilience', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  let primary: FakeOpenAi;
  let secondary: FakeOpenAi;
  const tenant = 'tenant_res';

  /** Each alias has its own target ids, so breakers never leak between tests. */
  const model = (name: string, opts: { retries?: number; timeout?: number; deadline?: number } = {}) => ({
    price: { input_per_1k: 1_000, output_per_1k: 1_000 },
    ...(opts.deadline ? { deadline_ms: opts.deadline } : {}),
    targets: [
      {
        id: `${name}-primary`,
        provider: 'openai',
        model: 'p',
        base_url: `${primary.url}/v1`,
        retries: opts.retries ?? 2,
        ...(opts.timeout ? { timeout_ms: opts.timeout } : {}),
      },
      { id: `${name}-secondary`, provider: 'openai', model: 's', base_url: `${secondary.url}/v1`, retries: 0 },
    ],
  });

  const post = (body: Record<string, unknown>) =>
    fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
      body: JSON.stringify(body),
    });
  const chat = (modelName: string, content = 'hello', extra: Record<string, unknown> = {}) =>
    post({ model: modelName, messages: [{ role: 'user', content }], ...extra });
  const metrics = async () => (await fetch(`${h.url}/metrics`)).text();

  beforeAll(async () => {
    primary = await startFakeOpenAi();
    secondary = await startFakeOpenAi();
    h = await startHarness({
      label: 'ai_resilience',
      routing: {
        // A breaker stays open 1 s here: long enough that a loaded machine never half-opens it mid-test.
        defaults: { ...FAST_DEFAULTS, max_retry_after_ms: 3_000, breaker_half_open_after_ms: 1_000 },
        models: {
          errors: model('errors'),
          ratelimit: model('ratelimit'),
          longwait: model('longwait'),
          hang: model('hang', { retries: 0, timeout: 300 }),
          streamhang: model('streamhang', { retries: 0, timeout: 300 }),
          drop: model('drop'),
          dropfirst: model('dropfirst', { retries: 0 }),
          breaker: model('breaker', { retries: 0 }),
          deadline: { ...model('deadline', { retries: 0, timeout: 5_000, deadline: 400 }) },
          bad: model('bad'),
        },
      },
    });
    h.fakeCredits!.topUp(tenant, 1_000_000_000);
  });

  afterAll(async () => {
    await h.close();
    await primary.close();
    await secondary.close();
  });

  beforeEach(() => {
    primary.reset();
    secondary.reset();
  });

  it('retries 500s on the primary, then falls back to the secondary', async () => {
    primary.behave({ status: 500, times: 3 });
    const res = await chat('errors');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('Echo: hello');
    expect(primary.requests).toHaveLength(3); // first try + 2 retries
    expect(secondary.requests).toHaveLength(1);
    await h.app.usage.flush();
    const rows = await listUsageForTenant(h.env.db, tenant);
    expect(rows[rows.length - 1]).toMatchObject({ model: 'errors', target: 'errors-secondary', attempts: 4, outcome: 'success' });
    expect(metricValue(await metrics(), 'ai_fallbacks_total', { model: 'errors' })).toBe(1);
  });

  it('honours Retry-After on a 429 before retrying the same target', async () => {
    primary.behave({ status: 429, retryAfterSeconds: 1, times: 1 });
    const started = Date.now();
    const res = await chat('ratelimit');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(primary.requests).toHaveLength(2);
    expect(secondary.requests).toHaveLength(0);
  });

  it('falls back at once when Retry-After asks for longer than max_retry_after_ms', async () => {
    primary.behave({ status: 429, retryAfterSeconds: 30, times: 1 });
    const started = Date.now();
    const res = await chat('longwait');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(primary.requests).toHaveLength(1);
    expect(secondary.requests).toHaveLength(1);
  });

  it('times out a hanging primary and falls back', async () => {
    primary.behave({ hang: true, times: 1 });
    const started = Date.now();
    const res = await chat('hang');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(secondary.requests).toHaveLength(1);
  });

  it('falls back when a stream hangs before its first chunk', async () => {
    primary.behave({ hang: true, times: 1 });
    const res = await chat('streamhang', 'stream please', { stream: true });
    const events = parseSse(await res.text());
    expect(events[events.length - 1]).toBe('[DONE]');
    expect(
      events
        .slice(0, -1)
        .map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
        .join(''),
    ).toBe('Echo: stream please');
    expect(primary.requests).toHaveLength(1);
    expect(secondary.requests).toHaveLength(1);
  });

  it('falls back when the connection drops before the first chunk of a stream', async () => {
    primary.behave({ dropAfterChunks: 0, times: 1 });
    const res = await chat('dropfirst', 'x y z', { stream: true });
    const events = parseSse(await res.text());
    expect(events[events.length - 1]).toBe('[DONE]');
    expect(secondary.requests).toHaveLength(1);
  });

  it('ends a stream that drops mid-way with an OpenAI error event and no [DONE]; what was delivered is captured', async () => {
    // A chunk delay lets the first chunks leave the fake's socket before it is destroyed.
    primary.behave({ dropAfterChunks: 2, chunkDelayMs: 20, times: 1 });
    const holdsBefore = new Set(h.fakeCredits!.holds.keys());
    const res = await chat('drop', 'one two three four five six', { stream: true });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(events).not.toContain('[DONE]');
    const parsed = events.map(
      (e) => JSON.parse(e) as { choices?: { delta: { content?: string } }[]; error?: { message: string; type: string; code: string } },
    );
    const received = parsed
      .slice(0, -1)
      .map((p) => p.choices?.[0]?.delta.content ?? '')
      .join('');
    expect(received.length).toBeGreaterThan(0);
    expect('Echo: one two three four five six'.startsWith(received)).toBe(true);
    expect(received).not.toBe('Echo: one two three four five six');
    expect(parsed[parsed.length - 1]!.error).toMatchObject({ type: 'api_error', code: 'upstream_failed' });
    // No fallback after bytes reached the client.
    expect(secondary.requests).toHaveLength(0);
    const newHolds = [...h.fakeCredits!.holds.values()].filter((hold) => !holdsBefore.has(hold.id));
    expect(newHolds.map((hd) => hd.status)).toEqual(['captured']);
    await h.app.usage.flush();
    const rows = await listUsageForTenant(h.env.db, tenant);
    expect(rows[rows.length - 1]).toMatchObject({
      model: 'drop',
      outcome: 'stream_error',
      completion_tokens: Math.ceil(received.length / 4),
    });
    expect(rows[rows.length - 1]!.cost).toBe(newHolds[0]!.captured_amount);
  });

  it('opens the breaker after consecutive failures, skips the target, then half-opens for one trial', async () => {
    primary.behave({ status: 500, times: 3 });
    for (let i = 0; i < 3; i++) expect((await chat('breaker')).status).toBe(200);
    expect(primary.requests).toHaveLength(3);
    expect(metricValue(await metrics(), 'ai_breaker_state', { target: 'breaker-primary' })).toBe(1);

    // Open: the primary is not called at all.
    expect((await chat('breaker')).status).toBe(200);
    expect(primary.requests).toHaveLength(3);
    expect(secondary.requests).toHaveLength(4);
    expect(metricValue(await metrics(), 'ai_upstream_attempts_total', { target: 'breaker-primary', result: 'skipped_open' })).toBe(1);

    // After half_open_after_ms one trial goes to the primary; meanwhile others still skip it.
    await new Promise((r) => setTimeout(r, 1_000 + 50));
    primary.behave({ latencyMs: 300, times: 1 });
    const trial = chat('breaker', 'trial');
    await new Promise((r) => setTimeout(r, 100));
    expect(metricValue(await metrics(), 'ai_breaker_state', { target: 'breaker-primary' })).toBe(2);
    const during = await chat('breaker', 'during');
    expect(during.status).toBe(200);
    expect(primary.requests).toHaveLength(4); // only the trial
    expect((await trial).status).toBe(200);
    expect(metricValue(await metrics(), 'ai_breaker_state', { target: 'breaker-primary' })).toBe(0);
    expect((await chat('breaker', 'closed again')).status).toBe(200);
    expect(primary.requests).toHaveLength(5);
  });

  it('stops at the overall deadline with a 504 in OpenAI shape and releases the hold', async () => {
    primary.behave({ hang: true, times: 1 });
    const started = Date.now();
    const res = await chat('deadline');
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1_500);
    const body = (await res.json()) as { error: { type: string; code: string } };
    expect(body.error).toMatchObject({ type: 'api_error', code: 'upstream_timeout' });
    expect(secondary.requests).toHaveLength(0);
    expect((await h.credits.balance(tenant)).held).toBe(0);
  });

  it('passes an upstream 400 back as a 400 without trying other targets', async () => {
    primary.behave({ status: 400, times: 1 });
    const res = await chat('bad');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(primary.requests).toHaveLength(1);
    expect(secondary.requests).toHaveLength(0);
  });

  it('answers 503 when every target is failing and each breaker is open', async () => {
    primary.behave({ status: 503 });
    secondary.behave({ status: 503 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat('bad')).status);
    expect(statuses.slice(0, 3)).toEqual([502, 502, 502]);
    expect(statuses[3]).toBe(503);
  });
});
