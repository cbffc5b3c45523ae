import { startFakeOpenAi, startMesh, startWebhookReceiver, type FakeOpenAi, type Mesh, type WebhookReceiver } from '@tollgate/testkit';
import { createRedis, deleteByPrefix } from '@tollgate/common';
import { FAULT_MODEL, faultMeshEnv, timeToAllReady, timeToTrafficOk, writeFaultRouting } from '../src/faults';
import { apiClient, checkMoney, drainAndCheckEvents, LOAD_MESH_ENV, makeImages, newLoadState, runLoad, setUpLoadTenant, waitForImages, type LoadTenant } from '../src/load';

/**
 * Redis loses everything mid-load (docs/operations.md#what-redis-holds): every key of the
 * deployment is deleted while chats, uploads and image ingests run — what a Redis restarted
 * without persistence, or a FLUSHALL, does (the shared test Redis is emptied only under this
 * mesh's prefix). Lost with it: rate-limit windows, idempotency records, the response cache,
 * and every queued job. The recovery sweeps re-create the jobs from PostgreSQL (credits' outbox
 * relay, ai-proxy's async and settlement sweeps, image-pipeline's job sweep, upload's outbox,
 * webhook's delivery sweeper). Afterwards: no money lost or charged twice, the ledger
 * reconciles with no hold left, every event delivered, every accepted image job finished.
 */
const LOAD_MS = Number(process.env['REDIS_FLUSH_LOAD_MS'] ?? 6_000);
const SWEEP_ENV = { RECOVERY_INTERVAL_MS: '2000', ASYNC_RECOVERY_INTERVAL_MS: '2000', MAINTENANCE_INTERVAL_MS: '2000' };
/** The repeating sweeps' queues: their job schedulers must come back after the flush. */
const SCHEDULED_QUEUES = ['image-jobs', 'ai-completions', 'upload-maintenance'];

describe('Redis flushed under load', () => {
  let mesh: Mesh;
  let receiver: WebhookReceiver;
  let fake: FakeOpenAi;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    fake = await startFakeOpenAi();
    // Sweeps every 2 s, so their schedulers (kept only in Redis) are checked for within the test.
    mesh = await startMesh({
      env: { ...LOAD_MESH_ENV, ...faultMeshEnv(writeFaultRouting(fake.url)), ...SWEEP_ENV },
    });
  }, 120_000);
  afterAll(async () => {
    await mesh?.stop();
    await receiver?.close();
    await fake?.close();
  }, 60_000);

  it('loses no money, no event and no job', async () => {
    const api = apiClient(mesh.gatewayUrl);
    const tenant: LoadTenant = await setUpLoadTenant(mesh, receiver, 'flush');
    const { png, artwork } = await makeImages();
    const state = newLoadState();
    let stopping = false;
    const load = runLoad(state, { gatewayUrl: mesh.gatewayUrl, tenant, model: FAULT_MODEL, png, artwork, concurrency: 3, shouldStop: () => stopping, requestTimeoutMs: 20_000 });

    await new Promise((r) => setTimeout(r, LOAD_MS));
    const redis = createRedis(mesh.env['REDIS_URL']!);
    const prefix = mesh.env['REDIS_PREFIX']!;
    let deleted: number;
    const kinds: Record<string, number> = {};
    try {
      // What was there: queue keys (BullMQ: <prefix>:<queue>:...), limits, idempotency, cache.
      for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
        for (const key of keys) {
          const kind = key.slice(prefix.length + 1).split(':')[0]!;
          kinds[kind] = (kinds[kind] ?? 0) + 1;
        }
      }
      deleted = await deleteByPrefix(redis, prefix);
    } finally {
      redis.disconnect();
    }
    process.stdout.write(`redis flush: ${deleted} keys deleted mid-load: ${JSON.stringify(kinds)}\n`);
    expect(deleted).toBeGreaterThan(0);
    // The flush took queues with it, not only caches.
    expect(Object.keys(kinds).filter((k) => ['webhook-deliveries', 'webhook-events', 'image-jobs', 'upload-maintenance', 'ai-completions'].includes(k)).length).toBeGreaterThan(0);
    const callsAtFlush = state.reportedCost;
    await new Promise((r) => setTimeout(r, LOAD_MS));
    // The recovery sweeps' schedulers were in Redis too; each service re-installs its own.
    const check = createRedis(mesh.env['REDIS_URL']!);
    try {
      const missing = async () => (await Promise.all(SCHEDULED_QUEUES.map(async (q) => ((await check.zcard(`${prefix}:${q}:repeat`)) > 0 ? undefined : q)))).filter(Boolean);
      for (let i = 0; i < 50 && (await missing()).length > 0; i++) await new Promise((r) => setTimeout(r, 200));
      expect(await missing()).toEqual([]);
    } finally {
      check.disconnect();
    }
    expect(await timeToAllReady(mesh, 30_000)).toBeGreaterThanOrEqual(0);
    expect(await timeToTrafficOk(api, tenant, state, FAULT_MODEL, png, 30_000)).toBeGreaterThanOrEqual(0);
    stopping = true;
    await load;
    expect(state.reportedCost).toBeGreaterThan(callsAtFlush); // traffic went on after the flush

    const images = await waitForImages(api, tenant, state, 90_000);
    expect({ stuck: images.stuck, failures: images.failures }).toEqual({ stuck: [], failures: {} });
    const events = await drainAndCheckEvents(api, tenant, receiver, state, 90_000);
    expect([events.ok, events.detail]).toEqual([true, events.detail]);
    const money = await checkMoney(mesh, api, tenant, state, 90_000);
    expect([money.ok, money.detail]).toEqual([true, money.detail]);
    // no bare 500 while Redis came back empty
    expect(Object.entries(state.statusCounts).filter(([k]) => k.endsWith(' 500'))).toEqual([]);
  }, 600_000);
});
