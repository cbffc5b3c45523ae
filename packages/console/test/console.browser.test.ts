import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { type Mesh, startMesh, startWebhookReceiver, type WebhookReceiver } from '@tollgate/testkit';
import { ensureChromium } from './chromium';
import { solidPng } from './png';

/**
 * The console in real headless Chromium against the real six-process mesh: both sign-ins, a
 * tenant and key created, a top-up seen in the balance, images reviewed (keys, batch, reject)
 * and their status read back through the API, a failed delivery retried, an API error shown with
 * its request id, a revoked key sent back to sign-in, axe-core on every page, and no CSP
 * violation anywhere. Screenshots go to CONSOLE_SCREENSHOTS_DIR (docs/console to refresh the
 * README's), else .data/console-screenshots.
 */

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../../..');
const SHOTS = path.resolve(ROOT, process.env['CONSOLE_SCREENSHOTS_DIR'] ?? '.data/console-screenshots');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let mesh: Mesh;
let receiver: WebhookReceiver;
let browser: Browser;
let operator: { context: BrowserContext; page: Page };
let tenant: { context: BrowserContext; page: Page };
let tenantId: string;
let tenantKey: string;
let tenantKeyId: string;
const imageIds: string[] = [];
let failedDeliveryId: string;
const browserProblems: string[] = [];

async function api<T = any>(method: string, p: string, token: string, json?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${mesh.gatewayUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: mesh.gatewayUrl });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) browserProblems.push(msg.text());
  });
  page.on('pageerror', (err) => browserProblems.push(`page error: ${err.message}`));
  return { context, page };
}

/** axe-core evaluated in the page (through the DevTools protocol, so the CSP stays on); serious and critical only. */
async function expectAccessible(page: Page, name: string): Promise<void> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run(document, { resultTypes: ['violations'] });
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  expect({ page: name, violations }).toEqual({ page: name, violations: [] });
}

const untilCount = (l: Locator, n: number) => eventually(async () => (await l.count()) === n, `${n} of ${l.toString()}`, 15_000);
const untilAttr = (l: Locator, name: string, value: string) => eventually(async () => (await l.getAttribute(name, { timeout: 1_000 })) === value, `${l.toString()} ${name}=${value}`, 15_000);
const untilText = (l: Locator, text: string) => eventually(async () => (await l.textContent({ timeout: 1_000 }))?.trim() === text, `${l.toString()} "${text}"`, 15_000);

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto('/console/');
  await page.getByTestId('login-token').fill(token);
  await page.getByTestId('login-submit').click();
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const executablePath = ensureChromium();
  receiver = await startWebhookReceiver();
  // One attempt per round: a delivery the receiver refuses is `failed` at once, ready for a retry.
  [mesh, browser] = await Promise.all([
    startMesh({ env: { WEBHOOK_RETRY_SCHEDULE: '0' } }),
    chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] }),
  ]);
  operator = await newPage();
  tenant = await newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
  await receiver?.close();
}, 60_000);

test('the operator signs in with the admin token; the page loads under the CSP and is accessible', async () => {
  const { page } = operator;
  await page.goto('/console/');
  const firstLoad = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { domContentLoaded: Math.round(nav.domContentLoadedEventEnd), load: Math.round(nav.loadEventEnd), transferred: nav.transferSize };
  });
  // A second first load: a new context (empty HTTP cache and storage) in the now-warm browser.
  const fresh = await newPage();
  await fresh.page.goto('/console/');
  const secondLoad = await fresh.page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { domContentLoaded: Math.round(nav.domContentLoadedEventEnd), load: Math.round(nav.loadEventEnd) };
  });
  await fresh.context.close();
  // Reported, not asserted (speed lives in benchmarks): packages/console/README.md has the figures.
  process.stdout.write(`console first load on loopback (ms): browser just started ${JSON.stringify(firstLoad)}, warm browser + empty cache ${JSON.stringify(secondLoad)}\n`);
  await page.getByTestId('login-token').waitFor();
  await expectAccessible(page, 'sign-in');
  await shot(page, 'sign-in');
  await signIn(page, mesh.adminToken);
  await page.getByTestId('nav-tenants').waitFor();
  expect(await page.evaluate(() => document.cookie)).toBe('');
  expect(page.url()).not.toContain(mesh.adminToken);
});

test('the operator creates a tenant and a key (shown once, working), and finds the tenant by search', async () => {
  const { page } = operator;
  await api('POST', '/v1/admin/tenants', mesh.adminToken, { name: 'Globex Posters' });
  await page.getByTestId('nav-tenants').click();
  await page.getByTestId('tenant-name').fill('Acme Prints');
  await page.getByTestId('tenant-create').click();
  await page.getByTestId('balance').waitFor();
  tenantId = decodeURIComponent(page.url().split('#/tenants/')[1]!);
  expect(tenantId).toBeTruthy();
  expect((await api('GET', `/v1/admin/tenants/${tenantId}`, mesh.adminToken)).body.name).toBe('Acme Prints');

  await page.getByTestId('key-name').fill('reviewer');
  await page.getByTestId('key-create').click();
  tenantKey = (await page.getByTestId('new-key').textContent())!.trim();
  expect(tenantKey).toMatch(/^tg_/);
  const keys = await api('GET', `/v1/admin/tenants/${tenantId}/keys`, mesh.adminToken);
  tenantKeyId = keys.body.data.find((k: { name: string }) => k.name === 'reviewer').id;
  expect((await api('GET', '/v1/credits/balance', tenantKey)).body.tenant_id).toBe(tenantId);
  await page.getByTestId('key-row').first().waitFor();
  await expectAccessible(page, 'tenant');

  await page.getByTestId('nav-tenants').click();
  await page.getByTestId('tenant-row').nth(1).waitFor();
  await shot(page, 'tenants');
  await page.getByTestId('tenant-search').fill('acme');
  await untilCount(page.getByTestId('tenant-row'), 1);
  expect(await page.getByTestId('tenant-row').getAttribute('data-tenant-id')).toBe(tenantId);
  await expectAccessible(page, 'tenants');
});

test('a top-up changes the balance shown, as the API reports it; an API error shows its request id', async () => {
  const { page } = operator;
  await page.getByTestId('tenant-row').getByRole('link').click();
  await untilAttr(page.getByTestId('balance'), 'data-available', '0');
  await page.getByTestId('topup-amount').fill('25');
  await page.getByTestId('topup-submit').click();
  await untilAttr(page.getByTestId('balance'), 'data-available', '25000000');
  expect((await api('GET', `/v1/admin/tenants/${tenantId}/credits`, mesh.adminToken)).body.available).toBe(25_000_000);
  await shot(page, 'tenant');

  // More than the ledger takes in one top-up: the API's 400 reaches the banner with its request id.
  await page.getByTestId('topup-amount').fill('5000000000');
  await page.getByTestId('topup-submit').click();
  const banner = page.getByTestId('error-banner');
  await banner.waitFor();
  expect(await banner.textContent()).toContain('VALIDATION_FAILED');
  expect(await page.getByTestId('error-request-id').textContent()).toMatch(/\S{8,}/);
  expect((await api('GET', `/v1/admin/tenants/${tenantId}/credits`, mesh.adminToken)).body.available).toBe(25_000_000);
});

test('set-up through the API: five ingested images pending review, and a webhook delivery that failed', async () => {
  const endpoint = await api('POST', '/v1/webhooks/endpoints', tenantKey, { url: `${receiver.url}/hooks`, event_types: ['*'] });
  expect(endpoint.status).toBe(201);
  receiver.setStatus(500);
  expect((await api('POST', `/v1/webhooks/endpoints/${endpoint.body.id}/test`, tenantKey)).status).toBeLessThan(300);
  const failed = await eventually(async () => {
    const list = await api('GET', `/v1/webhooks/endpoints/${endpoint.body.id}/deliveries?status=failed`, tenantKey);
    return list.body.data[0];
  }, 'a failed delivery');
  failedDeliveryId = failed.id;
  receiver.setStatus(null);

  const colours: [number, number, number][] = [
    [220, 60, 90],
    [40, 140, 200],
    [250, 190, 40],
    [90, 180, 100],
    [140, 90, 200],
  ];
  for (const colour of colours) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(solidPng(1200, 1200, colour))], { type: 'image/png' }), 'art.png');
    const upload = await fetch(`${mesh.gatewayUrl}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${tenantKey}` }, body: form });
    expect(upload.status).toBe(201);
    const ingested = await api('POST', '/v1/images/ingest', tenantKey, { file_id: ((await upload.json()) as { id: string }).id, profile: 'sticker' });
    expect(ingested.status).toBe(202);
    imageIds.push(ingested.body.id);
  }
  await eventually(async () => (await api('GET', '/v1/images?status=pending_review&limit=100', tenantKey)).body.data.length === 5, 'five images pending review');
}, 60_000);

test('a reviewer signs in with the tenant key and clears the queue with the keyboard, a batch and a reject', async () => {
  const { page } = tenant;
  await signIn(page, tenantKey);
  await untilAttr(page.getByTestId('balance'), 'data-available', '25000000');
  await expectAccessible(page, 'overview');
  await shot(page, 'overview');

  await page.getByTestId('nav-review').click();
  const items = page.getByTestId('review-item');
  await untilCount(items, 5);
  await page.locator('img.thumb').nth(4).waitFor();
  await expectAccessible(page, 'review');
  await shot(page, 'review');
  const order = await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-image-id')!));
  expect([...order].sort()).toEqual([...imageIds].sort());

  // a approves the current (first) image; x selects, j moves; then one batch approves the two selected.
  await page.locator('h1').click();
  await page.keyboard.press('a');
  await untilAttr(items.nth(0), 'data-status', 'approved');
  await page.keyboard.press('x');
  await page.keyboard.press('j');
  await page.keyboard.press('x');
  await untilText(page.getByTestId('selected-count'), '2 selected');
  await page.getByTestId('batch-approve').click();
  await page.getByTestId('batch-result').waitFor();
  expect(await page.getByTestId('batch-result').textContent()).toContain('2 succeeded, 0 failed, 0 skipped');
  await page.getByTestId('reject-reason').fill('Colours out of gamut');
  await items.nth(3).getByTestId('reject').click();
  await untilAttr(items.nth(3), 'data-status', 'rejected');
  await shot(page, 'review-done');

  const statusOf = async (id: string) => (await api('GET', `/v1/images/${id}`, tenantKey)).body;
  for (const id of order.slice(0, 3)) expect(['approved', 'publishing', 'published']).toContain((await statusOf(id)).status);
  const rejected = await statusOf(order[3]!);
  expect(rejected).toMatchObject({ status: 'rejected', rejection_reason: 'Colours out of gamut' });
  expect((await statusOf(order[4]!)).status).toBe('pending_review');
});

test('the operator opens the same tenant’s queue and batch-approves what is left', async () => {
  const { page } = operator;
  await page.goto(`/console/#/review/${encodeURIComponent(tenantId)}`);
  const items = page.getByTestId('review-item');
  await untilCount(items, 1);
  const id = await items.first().getAttribute('data-image-id');
  await items.first().locator('input[type=checkbox]').check();
  await page.getByTestId('batch-approve').click();
  await untilAttr(items.first(), 'data-status', 'approved');
  expect(['approved', 'publishing', 'published']).toContain((await api('GET', `/v1/images/${id}`, tenantKey)).body.status);
});

test('the tenant retries the failed delivery and it succeeds', async () => {
  const { page } = tenant;
  await page.getByTestId('nav-webhooks').click();
  const row = page.locator(`[data-testid=delivery-row][data-delivery-id="${failedDeliveryId}"]`);
  await untilAttr(row, 'data-status', 'failed');
  await expectAccessible(page, 'webhooks');
  await row.getByRole('button', { name: 'Attempts' }).click();
  await page.getByTestId('attempts').waitFor();
  await shot(page, 'webhooks');
  await row.getByTestId('retry').click();
  await eventually(async () => (await api('GET', `/v1/webhooks/deliveries/${failedDeliveryId}`, tenantKey)).body.status === 'succeeded', 'the retried delivery to succeed');
});

test('usage: the chart reads the usage reports (a chart, or "no usage yet" — never "unavailable", the routes exist)', async () => {
  for (const { page } of [tenant, operator]) {
    await page.getByTestId('nav-usage').click();
    const chart = page.getByTestId('usage-chart');
    await chart.waitFor();
    expect(await chart.getAttribute('data-state')).not.toBe('unavailable');
    await expectAccessible(page, 'usage');
  }
  await shot(operator.page, 'usage');
});

test('a revoked key sends the reviewer back to sign-in; no CSP violation or page error anywhere', async () => {
  expect((await api('DELETE', `/v1/admin/keys/${tenantKeyId}`, mesh.adminToken)).status).toBe(200);
  const { page } = tenant;
  await page.getByTestId('nav-overview').click();
  await page.getByTestId('login-token').waitFor();
  expect(await page.textContent('body')).toContain('expired or was revoked');
  expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  expect(browserProblems).toEqual([]);
});
