import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MESH_SERVICES, startMesh, startWebhookReceiver, type Mesh, type WebhookReceiver } from '@tollgate/testkit';
import {
  apiClient,
  checkMoney,
  LOAD_MESH_ENV,
  makeImages,
  drainAndCheckEvents,
  newLoadState,
  routeTable,
  rssMiB,
  runLoad,
  setUpLoadTenant,
  waitForImages,
  type LoadState,
} from '../src/load';

/**
 * The soak (`npm run load`, scripts/load/run.mjs): mixed traffic through the gateway of a real
 * mesh for LOAD_DURATION_S seconds. Opt-in (TOLLGATE_LOAD=1) so `npm test` never runs it.
 *
 * Pass: zero 5xx; per service, RSS at the end at most LOAD_RSS_BOUND_MIB (default 64) above its
 * RSS after the warm-up (the first 20% of the run, at most 30 s: V8 heaps and pools grow to their
 * working size first); every event delivered (the endpoint's delivery log all succeeded, each
 * received 2xx, every 201 upload has its file.uploaded); the ledger reconciles and the balance is
 * exactly top-up − the costs reported; every accepted image job reached a final state.
 */
const enabled = process.env['TOLLGATE_LOAD'] === '1';
const DURATION_S = Number(process.env['LOAD_DURATION_S'] ?? 300);
const CONCURRENCY = Number(process.env['LOAD_CONCURRENCY'] ?? 6);
const RSS_BOUND_MIB = Number(process.env['LOAD_RSS_BOUND_MIB'] ?? 64);
const REPORT = process.env['LOAD_REPORT'] ?? path.resolve(__dirname, '../../../.data/load-report.md');

(enabled ? describe : describe.skip)('load: a bounded soak of mixed traffic through the gateway', () => {
  let mesh: Mesh;
  let receiver: WebhookReceiver;
  const out = (line = '') => process.stdout.write(`${line}\n`);

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    mesh = await startMesh({ env: LOAD_MESH_ENV });
  }, 120_000);
  afterAll(async () => {
    await mesh?.stop();
    await receiver?.close();
  }, 60_000);

  it(
    `${DURATION_S} s of chat (half streamed), uploads, image jobs and webhooks: zero 5xx, bounded RSS, every event delivered, money reconciled`,
    async () => {
      const api = apiClient(mesh.gatewayUrl);
      const tenant = await setUpLoadTenant(mesh, receiver, 'soak');
      const { png, artwork } = await makeImages();
      const rssStart = rssMiB(mesh);
      const state: LoadState = newLoadState();
      const endAt = Date.now() + DURATION_S * 1000;
      const warmupMs = Math.min(30_000, DURATION_S * 200);
      let rssWarm = rssStart;
      const warmTimer = setTimeout(() => (rssWarm = rssMiB(mesh)), warmupMs);
      const progress = setInterval(() => {
        const done = Object.values(state.routes).reduce((n, r) => n + r.count, 0);
        out(`  … ${Math.round((Date.now() - state.startedAt) / 1000)} s, ${done} requests, ${Object.values(state.routes).reduce((n, r) => n + r.status5xx, 0)} 5xx`);
      }, 15_000);
      await runLoad(state, { gatewayUrl: mesh.gatewayUrl, tenant, model: 'mock-1', png, artwork, concurrency: CONCURRENCY, shouldStop: () => Date.now() >= endAt });
      clearInterval(progress);
      clearTimeout(warmTimer);
      const rssEnd = rssMiB(mesh);

      const images = await waitForImages(api, tenant, state, 120_000);
      const events = await drainAndCheckEvents(api, tenant, receiver, state, 120_000);
      const money = await checkMoney(mesh, api, tenant, state);
      const total5xx = Object.values(state.routes).reduce((n, r) => n + r.status5xx, 0);
      const noAnswer = Object.values(state.routes).reduce((n, r) => n + r.networkErrors, 0);
      const rssRows = MESH_SERVICES.map((s) => {
        const growth = Math.round((rssEnd[s.name] - rssWarm[s.name]) * 10) / 10;
        return { name: s.name, start: rssStart[s.name], warm: rssWarm[s.name], end: rssEnd[s.name], growth, ok: growth <= RSS_BOUND_MIB };
      });
      const checks = [
        { name: 'zero 5xx (and every request answered)', ok: total5xx === 0 && noAnswer === 0, detail: `${total5xx} 5xx, ${noAnswer} without an answer` },
        { name: `RSS growth after warm-up ≤ ${RSS_BOUND_MIB} MiB per service`, ok: rssRows.every((r) => r.ok), detail: rssRows.filter((r) => !r.ok).map((r) => `${r.name} +${r.growth}`).join(', ') || 'all within' },
        { name: 'every event delivered', ok: events.ok, detail: events.detail },
        { name: 'money: ledger reconciles, balance exact', ok: money.ok, detail: money.detail },
        { name: 'every image job finished', ok: images.stuck.length === 0, detail: `${state.ingestedImageIds.length} jobs: ${JSON.stringify(images.byStatus)}` },
      ];

      const seconds = ((state.stoppedAt ?? Date.now()) - state.startedAt) / 1000;
      const total = Object.values(state.routes).reduce((n, r) => n + r.count, 0);
      const report = [
        `# Load soak — ${new Date().toISOString()}`,
        '',
        `${Math.round(seconds)} s, ${CONCURRENCY} virtual users, ${total} requests (${Math.round((total / seconds) * 10) / 10} req/s) through the gateway; ${receiver.received.length} webhook requests received.`,
        '',
        routeTable(state),
        '',
        '| service | RSS start MiB | after warm-up | end | growth after warm-up |',
        '|---|---:|---:|---:|---:|',
        ...rssRows.map((r) => `| ${r.name} | ${r.start} | ${r.warm} | ${r.end} | ${r.growth} |`),
        '',
        '| check | result | detail |',
        '|---|---|---|',
        ...checks.map((c) => `| ${c.name} | ${c.ok ? 'PASS' : 'FAIL'} | ${c.detail} |`),
        '',
        `status counts: ${JSON.stringify(state.statusCounts)}`,
        '',
      ].join('\n');
      mkdirSync(path.dirname(REPORT), { recursive: true });
      writeFileSync(REPORT, report);
      out(`\n${report}\nreport: ${REPORT}`);
      expect(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    },
    (DURATION_S + 600) * 1000,
  );
});
