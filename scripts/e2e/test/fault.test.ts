import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  MESH_SERVICES,
  startFakeOpenAi,
  startMesh,
  startWebhookReceiver,
  type FakeOpenAi,
  type Mesh,
  type WebhookReceiver,
} from '@tollgate/testkit';
import { diffStatuses, FAULT_MODEL, faultMeshEnv, notReady, timeToAllReady, timeToTrafficOk, writeFaultRouting } from '../src/faults';
import {
  apiClient,
  checkEvents,
  drainAndCheckEvents,
  LOAD_MESH_ENV,
  makeImages,
  newLoadState,
  reconcileLedger,
  routeTable,
  runLoad,
  setUpLoadTenant,
  waitForImages,
  type LoadTenant,
} from '../src/load';

/**
 * Scripted faults during load (`npm run fault`, scripts/fault/run.mjs; opt-in with TOLLGATE_FAULT=1).
 * The mesh reaches Postgres and Redis through TCP proxies (startMesh proxyInfra) so their outage
 * can be simulated without touching the servers others share; ai-proxy routes FAULT_MODEL to a
 * fake OpenAI that can be told to fail. Background load runs throughout.
 *
 * Faults: SIGKILL of each service process (API + its workers) then a restart with the same env;
 * Redis down; Postgres down; the AI provider answering 500; the webhook receiver answering 503.
 * FAULT_SCALE=quick shortens the outages (5 s / 8 s / 10 s instead of 30 s / 30 s / 60 s).
 *
 * After each: every service ready within READY_BOUND_S (default 30) of the fault's end, traffic
 * (a chat and an upload) succeeds again within the same bound, the ledger reconciles, no
 * delivery has failed for good and none the platform marked succeeded is missing at the receiver,
 * and no answer was a bare 500 (a dependency outage must surface as 502/503/504).
 * At the end, load stopped: every accepted image job reached a final state (no job lost), every
 * event delivered or still pending a retry, every 201 upload has its file.uploaded event, no hold
 * left, and the balance is exactly top-up − reported costs (any difference must be covered by
 * calls whose outcome we could not see: no answer, a cut stream, a 504).
 */
const enabled = process.env['TOLLGATE_FAULT'] === '1';
const QUICK = process.env['FAULT_SCALE'] !== 'full';
const OUTAGE_MS = QUICK ? 5_000 : 30_000;
const AI_FAIL_MS = QUICK ? 8_000 : 30_000;
const RECEIVER_DOWN_MS = QUICK ? 10_000 : 60_000;
const SETTLE_MS = QUICK ? 3_000 : 15_000;
const READY_BOUND_MS = Number(process.env['READY_BOUND_S'] ?? 30) * 1000;
const CONCURRENCY = Number(process.env['FAULT_CONCURRENCY'] ?? 3);
const REPORT = process.env['FAULT_REPORT'] ?? path.resolve(__dirname, '../../../.data/fault-report.md');

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
interface Phase {
  name: string;
  seconds: number;
  statuses: Record<string, number>;
  checks: Check[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

(enabled ? describe : describe.skip)('fault: scripted faults during load', () => {
  let mesh: Mesh;
  let receiver: WebhookReceiver;
  let fake: FakeOpenAi;
  const out = (line = '') => process.stdout.write(`${line}\n`);

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    fake = await startFakeOpenAi();
    mesh = await startMesh({ proxyInfra: true, env: { ...LOAD_MESH_ENV, ...faultMeshEnv(writeFaultRouting(fake.url)) } });
  }, 120_000);
  afterAll(async () => {
    // Whatever failed, give the mesh its dependencies back so it can shut down cleanly.
    await mesh?.proxies?.postgres.start().catch(() => undefined);
    await mesh?.proxies?.redis.start().catch(() => undefined);
    await mesh?.stop();
    await receiver?.close();
    await fake?.close();
  }, 90_000);

  it('every fault recovers with no money, event or job lost', async () => {
    const api = apiClient(mesh.gatewayUrl);
    const tenant: LoadTenant = await setUpLoadTenant(mesh, receiver, 'faults');
    const { png, artwork } = await makeImages();
    const state = newLoadState();
    let stopping = false;
    const load = runLoad(state, {
      gatewayUrl: mesh.gatewayUrl,
      tenant,
      model: FAULT_MODEL,
      png,
      artwork,
      concurrency: CONCURRENCY,
      shouldStop: () => stopping,
      requestTimeoutMs: 20_000,
    });
    const phases: Phase[] = [];

    const phase = async (name: string, inject: () => Promise<Check[] | void>) => {
      out(`  fault: ${name} …`);
      const before = { ...state.statusCounts };
      const started = Date.now();
      const extra = (await inject()) ?? [];
      const readyMs = await timeToAllReady(mesh, READY_BOUND_MS);
      const unready = readyMs >= 0 ? [] : await notReady(mesh);
      // A service that did not recover fails the check; the script then restarts it (SIGKILL +
      // start) so the later faults still test something.
      if (readyMs < 0) {
        for (const line of unready) {
          const name = line.split(':')[0] as (typeof MESH_SERVICES)[number]['name'];
          await mesh.restart(name, READY_BOUND_MS).catch(() => undefined);
        }
      }
      const trafficMs = await timeToTrafficOk(api, tenant, state, FAULT_MODEL, png, READY_BOUND_MS);
      await sleep(SETTLE_MS);
      const statuses = diffStatuses(before, state.statusCounts);
      const bare500 = Object.entries(statuses)
        .filter(([k]) => k.endsWith(' 500'))
        .reduce((n, [, v]) => n + v, 0);
      const ledger = await reconcileLedger(mesh).catch((err: Error) => ({ ok: false, report: { mismatch: err.message } }));
      const events = await checkEvents(api, tenant, receiver, state, true).catch((err: Error) => ({
        failed: -1,
        succeededNotReceived: -1,
        detail: err.message,
      }));
      const checks: Check[] = [
        ...extra,
        {
          name: `all six ready within ${READY_BOUND_MS / 1000} s`,
          ok: readyMs >= 0,
          detail: readyMs >= 0 ? `${(readyMs / 1000).toFixed(1)} s after the fault ended` : `NOT READY: ${unready.join(' / ')}`,
        },
        {
          name: 'chat + upload succeed again',
          ok: trafficMs >= 0,
          detail: trafficMs >= 0 ? `${(trafficMs / 1000).toFixed(1)} s after ready` : 'still failing',
        },
        {
          name: 'ledger reconciles',
          ok: ledger.ok,
          detail: ledger.ok ? `ok (${ledger.report.counts?.transactions} transactions)` : JSON.stringify(ledger.report.mismatch),
        },
        {
          name: 'no event lost (none failed, none succeeded-but-missing)',
          ok: events.failed === 0 && events.succeededNotReceived === 0,
          detail: events.detail,
        },
        { name: 'no bare 500 answers', ok: bare500 === 0, detail: `${bare500}` },
      ];
      phases.push({ name, seconds: Math.round((Date.now() - started) / 100) / 10, statuses, checks });
      out(`    ${checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n    ')}`);
    };

    await sleep(SETTLE_MS);
    for (const s of MESH_SERVICES) {
      await phase(`SIGKILL ${s.name} (API + workers), restart`, async () => {
        const started = Date.now();
        await mesh.restart(s.name, READY_BOUND_MS);
        return [
          {
            name: 'killed process restarted and ready',
            ok: true,
            detail: `${((Date.now() - started) / 1000).toFixed(1)} s from SIGKILL to /readyz 200`,
          },
        ];
      });
    }
    await phase(`Redis unreachable for ${OUTAGE_MS / 1000} s`, async () => {
      await mesh.proxies!.redis.stop();
      await sleep(OUTAGE_MS);
      await mesh.proxies!.redis.start();
    });
    await phase(`Postgres unreachable for ${OUTAGE_MS / 1000} s`, async () => {
      await mesh.proxies!.postgres.stop();
      await sleep(OUTAGE_MS);
      await mesh.proxies!.postgres.start();
    });
    await phase(`AI provider answering 500 for ${AI_FAIL_MS / 1000} s`, async () => {
      const before = { ...state.statusCounts };
      fake.behave({ status: 500 });
      await sleep(AI_FAIL_MS);
      fake.reset();
      const during = diffStatuses(before, state.statusCounts);
      const chatAnswers = Object.entries(during).filter(([k]) => k.startsWith('chat'));
      const succeeded = chatAnswers.filter(([k]) => k.endsWith(' 200')).reduce((n, [, v]) => n + v, 0);
      const upstreamErrors = chatAnswers.filter(([k]) => /\s(502|503|504)$/.test(k)).reduce((n, [, v]) => n + v, 0);
      return [
        {
          name: 'chat answers 502/503 while the provider fails (no 200 from nowhere)',
          ok: upstreamErrors > 0 && succeeded <= CONCURRENCY,
          detail: `chat during the failure: ${JSON.stringify(Object.fromEntries(chatAnswers))}`,
        },
      ];
    });
    await phase(`webhook receiver answering 503 for ${RECEIVER_DOWN_MS / 1000} s`, async () => {
      receiver.setStatus(503);
      await sleep(RECEIVER_DOWN_MS);
      receiver.setStatus(null);
      // Every event the receiver refused must come back and be accepted. Load keeps running, so
      // "nothing pending" is never a stable state; the refused ids are the exact set to wait for.
      const isOurs = (r: (typeof receiver.received)[number]) => r.path === tenant.hookPath;
      const refusedIds = new Set(
        receiver.received.filter((r) => isOurs(r) && r.answeredStatus === 503).map((r) => String(r.headers['webhook-id'])),
      );
      const notYetDelivered = () => {
        const accepted = new Set(
          receiver.received.filter((r) => isOurs(r) && r.answeredStatus < 300).map((r) => String(r.headers['webhook-id'])),
        );
        return [...refusedIds].filter((id) => !accepted.has(id));
      };
      const started = Date.now();
      while (notYetDelivered().length > 0 && Date.now() - started < READY_BOUND_MS * 2) await sleep(250);
      const missing = notYetDelivered();
      const events = await checkEvents(api, tenant, receiver, state, true);
      return [
        {
          name: 'deliveries refused while down are retried and delivered',
          ok: refusedIds.size > 0 && missing.length === 0 && events.failed === 0,
          detail: `${refusedIds.size} events refused (503) while down; ${refusedIds.size - missing.length} of them accepted ${((Date.now() - started) / 1000).toFixed(1)} s after it came back${missing.length ? `; missing: ${missing.slice(0, 5).join(', ')}` : ''}; ${events.failed} deliveries failed for good`,
        },
      ];
    });

    stopping = true;
    await load;
    const images = await waitForImages(api, tenant, state, QUICK ? 60_000 : 180_000);
    const events = await drainAndCheckEvents(api, tenant, receiver, state, QUICK ? 60_000 : 180_000, true);
    // Holds left by a process killed mid-call expire (TTL = call deadline + HOLD_TTL_MARGIN_S).
    let balance: { available: number; held: number } = { available: NaN, held: NaN };
    const until = Date.now() + (QUICK ? 60_000 : 120_000);
    while (Date.now() < until) {
      const b = await api('GET', '/v1/credits/balance', { token: tenant.key });
      balance = b.body;
      if (b.status === 200 && b.body.held === 0) break;
      await sleep(1_000);
    }
    const ledger = await reconcileLedger(mesh);
    const expected = tenant.topUp - state.reportedCost;
    const diff = balance.available - expected;
    const chatKeys = Object.entries(state.statusCounts).filter(([k]) => k.startsWith('chat'));
    const unseen = chatKeys.filter(([k]) => /\s(network|599|504)$/.test(k)).reduce((n, [, v]) => n + v, 0);
    const final: Check[] = [
      {
        name: 'no job lost: every accepted image job finished',
        ok: images.stuck.length === 0,
        detail: `${state.ingestedImageIds.length} jobs: ${JSON.stringify(images.byStatus)}${Object.keys(images.failures).length ? `; failed because ${JSON.stringify(images.failures)}` : ''}`,
      },
      { name: 'no event lost: delivered or pending a retry; every upload has its event', ok: events.ok, detail: events.detail },
      {
        name: 'ledger reconciles, no hold left',
        ok: ledger.ok && balance.held === 0,
        detail: `reconcile ${ledger.ok ? 'ok' : JSON.stringify(ledger.report.mismatch)}; held ${balance.held}`,
      },
      {
        name: 'no money lost or double-charged',
        ok: diff === 0 || (diff < 0 && unseen > 0),
        detail: `available ${balance.available} vs top-up − reported costs ${expected} (diff ${diff}); ${unseen} chat calls with an unseen outcome (no answer / cut stream / 504)${diff !== 0 && unseen > 0 ? ': the difference is what those calls were charged' : ''}; ${state.unknownCost} successes without a readable cost`,
      },
    ];
    phases.push({ name: 'after the load: final books', seconds: 0, statuses: {}, checks: final });

    const report = [
      `# Fault run (${QUICK ? 'quick' : 'full'}) — ${new Date().toISOString()}`,
      '',
      `Background load: ${CONCURRENCY} virtual users (chat on ${FAULT_MODEL} via the fake provider, half streamed; uploads; image ingest), ${Math.round(((state.stoppedAt ?? Date.now()) - state.startedAt) / 1000)} s. Ready bound ${READY_BOUND_MS / 1000} s.`,
      '',
      routeTable(state),
      '',
      '| fault | check | result | detail |',
      '|---|---|---|---|',
      ...phases.flatMap((p) =>
        p.checks.map((c) => `| ${p.name} | ${c.name} | ${c.ok ? 'PASS' : 'FAIL'} | ${c.detail.replace(/\|/g, '/')} |`),
      ),
      '',
      '## Answers during each fault',
      '',
      ...phases.filter((p) => p.seconds > 0).map((p) => `- ${p.name} (${p.seconds} s): ${JSON.stringify(p.statuses)}`),
      '',
    ].join('\n');
    mkdirSync(path.dirname(REPORT), { recursive: true });
    writeFileSync(REPORT, report);
    out(`\n${report}\nreport: ${REPORT}`);
    const failed = phases.flatMap((p) => p.checks.filter((c) => !c.ok).map((c) => `${p.name} — ${c.name}: ${c.detail}`));
    expect(failed).toEqual([]);
  }, 1_800_000);
});
