import { identityHeaders } from '@tollgate/testkit';
import sharp from 'sharp';
import request from 'supertest';
import { renderPromptArt } from '../src/generation/builtin-generator';
import { findImageById } from '../src/images/repository';
import { createHarness, type Harness } from './support/harness';
import { type RealCredits, startRealCredits } from '@tollgate/credits/test/support/real-credits';
import { scriptedGenerator } from './support/scripted-generator';

// Image work under a loaded CI box: the root jest config (projects) keeps jest's 5 s default.
jest.setTimeout(60_000);

const PRICE = 40_000;
let tenantCounter = 0;
const newTenant = () => `ten_gen_${process.pid}_${++tenantCounter}`;

describe('generation (real credits ledger in-process, real Postgres/Redis/sharp)', () => {
  let h: Harness;
  let credits: RealCredits;
  const generator = scriptedGenerator();

  beforeAll(async () => {
    credits = await startRealCredits('img_gen');
    h = await createHarness({
      label: 'img_gen',
      creditsUrl: credits.url,
      generator,
      // A small print profile keeps rendering out of the test's time; sizes are not what is tested here.
      env: {
        GENERATION_PRICE: String(PRICE),
        PRINT_PROFILES: JSON.stringify({ label: { width: 400, height: 480, dpi: 300, alpha: true } }),
        DEFAULT_PROFILE: 'label',
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await credits?.close();
  });

  const generate = (tenant: string, body: Record<string, unknown>, scopes = ['generation', 'read']) =>
    request(h.app).post('/v1/images/generations').set(identityHeaders(tenant, scopes)).send(body);

  it('queues n images (202), renders each to review, and charges each exactly once', async () => {
    const tenant = newTenant();
    await credits.topUp(tenant, 1_000_000);
    const res = await generate(tenant, { prompt: 'a fox made of autumn leaves', n: 2, profile: 'label' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      object: 'image.generation',
      deduplicated: false,
      n: 2,
      profile: 'label',
      width: 400,
      height: 480,
      model: 'tollgate-render-1',
    });
    expect(res.body.image_ids).toHaveLength(2);
    // Both credits are reserved at once, before any work.
    expect(await credits.balance(tenant)).toMatchObject({ held: 2 * PRICE });

    const rows = await Promise.all(res.body.image_ids.map((id: string) => h.waitForStatus(id, ['pending_review', 'failed'])));
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'pending_review', source: 'generation', charge_status: 'captured', charge_amount: PRICE });
      expect(row.variants.print).toMatchObject({ width: 400, height: 480, dpi: 300 });
      expect(row.variants.original).toMatchObject({ format: 'png', width: 400, height: 480 });
    }
    // Two images from one prompt are different pictures.
    expect(rows[0]!.variants.original!.sha256).not.toBe(rows[1]!.variants.original!.sha256);

    expect(await credits.balance(tenant)).toMatchObject({ available: 1_000_000 - 2 * PRICE, held: 0 });
    const debits = (await credits.transactions(tenant)).filter((t) => t.type !== 'top_up');
    expect(debits.map((t) => [t.type, t.amount])).toEqual([
      ['capture', PRICE],
      ['capture', PRICE],
    ]);

    const job = await request(h.app)
      .get(`/v1/images/generations/${res.body.id}`)
      .set(identityHeaders(tenant, ['read']));
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ status: 'completed', counts: { pending_review: 2 } });
    const others = await request(h.app)
      .get(`/v1/images/generations/${res.body.id}`)
      .set(identityHeaders(newTenant(), ['read']));
    expect(others.status).toBe(404);

    const events = (await h.events()).filter((e) => e.tenant_id === tenant);
    expect(
      events
        .filter((e) => e.type === 'image.generation.completed')
        .map((e) => e.data['image_id'])
        .sort(),
    ).toEqual([...res.body.image_ids].sort());
  });

  it('an identical request inside the window returns the same images (deduplicated: true) and holds nothing more', async () => {
    const tenant = newTenant();
    await credits.topUp(tenant, 1_000_000);
    const body = { prompt: 'same prompt twice', n: 1, size: '400x480', profile: 'label' };
    const first = await generate(tenant, body);
    const second = await generate(tenant, body);
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({ id: first.body.id, image_ids: first.body.image_ids, deduplicated: true });
    // Another tenant with the same request is not deduplicated against the first.
    const otherTenant = newTenant();
    await credits.topUp(otherTenant, 1_000_000);
    const other = await generate(otherTenant, body);
    expect(other.body.deduplicated).toBe(false);
    // A different seed is a different request.
    const seeded = await generate(tenant, { ...body, seed: 7 });
    expect(seeded.body.deduplicated).toBe(false);
    await Promise.all(
      [...first.body.image_ids, ...seeded.body.image_ids, ...other.body.image_ids].map((id: string) =>
        h.waitForStatus(id, 'pending_review'),
      ),
    );
    expect((await credits.balance(tenant)).available).toBe(1_000_000 - 2 * PRICE);
  });

  it('402 when the credits do not cover n images: nothing stays held, and the request is not deduplicated later', async () => {
    const tenant = newTenant();
    await credits.topUp(tenant, PRICE * 2);
    const body = { prompt: 'three are too many', n: 3, profile: 'label' };
    const res = await generate(tenant, body);
    expect(res.status).toBe(402);
    expect(res.body.error.code).toBe('INSUFFICIENT_CREDITS');
    expect(await credits.balance(tenant)).toMatchObject({ available: PRICE * 2, held: 0 });

    await credits.topUp(tenant, PRICE);
    const retry = await generate(tenant, body);
    expect(retry.status).toBe(202);
    expect(retry.body.deduplicated).toBe(false);
    await Promise.all(retry.body.image_ids.map((id: string) => h.waitForStatus(id, 'pending_review')));
    expect(await credits.balance(tenant)).toMatchObject({ available: 0, held: 0 });
  });

  it('a refused prompt fails at once and gives the hold back; a flaky provider is retried and charged once', async () => {
    const tenant = newTenant();
    await credits.topUp(tenant, 1_000_000);
    const refused = await generate(tenant, { prompt: 'something [refuse]', profile: 'label' });
    const flaky = await generate(tenant, { prompt: 'something [flaky]', profile: 'label' });
    const refusedRow = await h.waitForStatus(refused.body.image_ids[0], ['failed', 'pending_review']);
    expect(refusedRow).toMatchObject({ status: 'failed', failure_code: 'GENERATION_REFUSED', charge_status: 'released' });
    const flakyRow = await h.waitForStatus(flaky.body.image_ids[0], ['failed', 'pending_review']);
    expect(flakyRow).toMatchObject({ status: 'pending_review', charge_status: 'captured' });
    expect(generator.calls.filter((k) => k.endsWith(flaky.body.image_ids[0]))).toHaveLength(2);
    expect(await credits.balance(tenant)).toMatchObject({ available: 1_000_000 - PRICE, held: 0 });
    const failedEvents = (await h.events()).filter((e) => e.type === 'image.generation.failed' && e.tenant_id === tenant);
    expect(failedEvents.map((e) => e.data['image_id'])).toEqual([refused.body.image_ids[0]]);
  });

  it('a provider that stays down fails the image after the configured attempts, with the hold released', async () => {
    const tenant = newTenant();
    await credits.topUp(tenant, 1_000_000);
    const res = await generate(tenant, { prompt: 'provider [down]', profile: 'label' });
    const row = await h.waitForStatus(res.body.image_ids[0], 'failed');
    expect(row.failure_message).toMatch(/after 3 attempts/);
    expect(row.charge_status).toBe('released');
    expect(await credits.balance(tenant)).toMatchObject({ available: 1_000_000, held: 0 });
    // Asking again is a new attempt, not the failed images deduplicated.
    const again = await generate(tenant, { prompt: 'provider [down]', profile: 'label' });
    expect(again.body).toMatchObject({ deduplicated: false });
    expect(again.body.id).not.toBe(res.body.id);
    await h.waitForStatus(again.body.image_ids[0], 'failed');
  });

  it('validates prompts and parameters', async () => {
    const tenant = newTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'prompt'],
      [{ prompt: '   ' }, 'prompt'],
      [{ prompt: 'bell \u0007 inside' }, 'prompt'],
      [{ prompt: 'hidden \u202E text' }, 'prompt'],
      [{ prompt: 'x'.repeat(4001) }, 'prompt'],
      [{ prompt: 'ok', n: 0 }, 'n'],
      [{ prompt: 'ok', n: 26 }, 'n'],
      [{ prompt: 'ok', n: 1.5 }, 'n'],
      [{ prompt: 'ok', size: 'big' }, 'size'],
      [{ prompt: 'ok', size: '1024x1024', width: 1024, height: 1024 }, 'size'],
      [{ prompt: 'ok', width: 1024 }, 'height'],
      [{ prompt: 'ok', profile: 'billboard' }, 'profile'],
      [{ prompt: 'ok', model: 'dall-e-3' }, 'model'],
      [{ prompt: 'ok', size: '20000x20000' }, 'size'],
      [{ prompt: 'ok', surprise: true }, '(root)'],
    ];
    for (const [body, param] of cases) {
      const res = await generate(tenant, body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({ body, status: 400, code: 'VALIDATION_FAILED' });
      expect(res.body.error.details.param ?? res.body.error.details.issues?.[0]?.path).toBe(param);
    }
    // Newlines and tabs are fine in a prompt.
    await credits.topUp(tenant, PRICE);
    const ok = await generate(tenant, { prompt: 'line one\n\tline two', profile: 'label' });
    expect(ok.status).toBe(202);
    await h.waitForStatus(ok.body.image_ids[0], 'pending_review');
  });

  it('needs the generation scope', async () => {
    expect((await request(h.app).post('/v1/images/generations').send({ prompt: 'x' })).status).toBe(401);
    const readOnly = await generate('ten_scope', { prompt: 'x' }, ['read', 'write']);
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.error.code).toBe('FORBIDDEN');
  });

  it('the built-in generator is deterministic per prompt, seed and index, and distinct across prompts', async () => {
    const base = { model: 'tollgate-render-1', seed: 1, index: 0, width: 300, height: 200, transparent: true };
    const a1 = await renderPromptArt({ ...base, prompt: 'a lighthouse' });
    const a2 = await renderPromptArt({ ...base, prompt: 'a lighthouse' });
    const b = await renderPromptArt({ ...base, prompt: 'a submarine' });
    expect(a1.equals(a2)).toBe(true);
    expect(a1.equals(b)).toBe(false);
    const meta = await sharp(a1).metadata();
    expect(meta).toMatchObject({ width: 300, height: 200, hasAlpha: true, format: 'png' });
    // Unknown image ids in jobs are ignored safely.
    expect(await findImageById(h.db, 'img_doesnotexist000000000')).toBeUndefined();
  });
});
