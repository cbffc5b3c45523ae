import { readFileSync } from 'node:fs';
import { signServiceIdentity } from '@tollgate/common';
import type { Mesh, MeshServiceName, WebhookReceiver } from '@tollgate/testkit';
import { MESH_SERVICES } from '@tollgate/testkit';
import { type Api, apiClient, createTenant, eventually } from './api';

/**
 * Mixed traffic through the edge gateway of a running mesh, as tenants send it: chat completions
 * (half streamed), small PNG uploads, image ingest jobs (which upload first), and — through the
 * events those emit — webhook deliveries to a local receiver. Used by the soak (load.test.ts) and
 * by the fault script (fault.test.ts), which runs it in the background while it breaks things.
 */

export type RouteName = 'chat' | 'chat_stream' | 'upload' | 'ingest';

export interface RouteStats {
  count: number;
  ok: number;
  status5xx: number;
  /** 500 exactly: an internal error (never acceptable, not even during a fault). */
  status500: number;
  status4xx: number;
  /** No HTTP answer at all (connection refused or reset). */
  networkErrors: number;
  latenciesMs: number[];
}

export interface LoadState {
  routes: Record<RouteName, RouteStats>;
  /** Micro-credits the platform said it charged for successful completions (x-tollgate-cost / usage.cost). */
  reportedCost: number;
  /** Successful completions whose cost we could not read. */
  unknownCost: number;
  uploadedFileIds: string[];
  ingestedImageIds: string[];
  statusCounts: Record<string, number>;
  startedAt: number;
  stoppedAt?: number;
}

export interface LoadTenant {
  tenantId: string;
  key: string;
  endpointId: string;
  /** The receiver path this tenant's endpoint posts to. */
  hookPath: string;
  topUp: number;
}

export function newLoadState(): LoadState {
  const route = (): RouteStats => ({ count: 0, ok: 0, status5xx: 0, status500: 0, status4xx: 0, networkErrors: 0, latenciesMs: [] });
  return {
    routes: { chat: route(), chat_stream: route(), upload: route(), ingest: route() },
    reportedCost: 0,
    unknownCost: 0,
    uploadedFileIds: [],
    ingestedImageIds: [],
    statusCounts: {},
    startedAt: Date.now(),
  };
}

/** A tenant with a key, a large credit balance and a webhook endpoint on the receiver. */
export async function setUpLoadTenant(mesh: Mesh, receiver: WebhookReceiver, name: string, topUp = 1_000_000_000): Promise<LoadTenant> {
  const api = apiClient(mesh.gatewayUrl);
  const { tenantId, key } = await createTenant(api, mesh.adminToken, name);
  const credited = await api('POST', `/v1/admin/tenants/${tenantId}/credits`, {
    token: mesh.adminToken,
    json: { amount: topUp, reason: 'load test' },
  });
  if (credited.status !== 201) throw new Error(`top up: ${credited.status} ${JSON.stringify(credited.body)}`);
  const hookPath = `/hooks/${name}`;
  const endpoint = await api('POST', '/v1/webhooks/endpoints', {
    token: key,
    json: { url: `${receiver.url}${hookPath}`, event_types: ['*'] },
  });
  if (endpoint.status !== 201) throw new Error(`webhook endpoint: ${endpoint.status} ${JSON.stringify(endpoint.body)}`);
  return { tenantId, key, endpointId: endpoint.body.id, hookPath, topUp };
}

function record(state: LoadState, route: RouteName, status: number | 'network', ms: number): void {
  const r = state.routes[route];
  r.count++;
  const key = `${route} ${status}`;
  state.statusCounts[key] = (state.statusCounts[key] ?? 0) + 1;
  if (status === 'network') {
    r.networkErrors++;
    return;
  }
  r.latenciesMs.push(ms);
  if (status < 300) r.ok++;
  else if (status >= 500) {
    r.status5xx++;
    if (status === 500) r.status500++;
  } else if (status >= 400) r.status4xx++;
}

async function timed<T>(state: LoadState, route: RouteName, fn: () => Promise<{ status: number; value?: T }>): Promise<T | undefined> {
  const started = performance.now();
  try {
    const { status, value } = await fn();
    record(state, route, status, performance.now() - started);
    return status < 300 ? value : undefined;
  } catch {
    record(state, route, 'network', performance.now() - started);
    return undefined;
  }
}

export interface LoadOptions {
  gatewayUrl: string;
  tenant: LoadTenant;
  model: string;
  /** Uploaded on its own (small). */
  png: Buffer;
  /** Uploaded then ingested: big enough for the profile's checks to pass (sticker: 1200×1200). */
  artwork?: Buffer;
  /** Concurrent virtual users. */
  concurrency: number;
  /** Run until this returns true (checked between requests). */
  shouldStop: () => boolean;
  /** Share of operations, summing to 1: chat (half streamed), upload, ingest. */
  mix?: { chat: number; upload: number; ingest: number };
  /** Per-request timeout. */
  requestTimeoutMs?: number;
}

/** Runs virtual users until `shouldStop()`; resolves when every one has finished its last request. */
export async function runLoad(state: LoadState, o: LoadOptions): Promise<void> {
  const mix = o.mix ?? { chat: 0.6, upload: 0.25, ingest: 0.15 };
  const auth = { authorization: `Bearer ${o.tenant.key}` };
  const timeout = o.requestTimeoutMs ?? 30_000;
  let sequence = 0;

  const chat = async (stream: boolean) => {
    const n = ++sequence;
    await timed(state, stream ? 'chat_stream' : 'chat', async () => {
      const res = await fetch(`${o.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: o.model,
          messages: [{ role: 'user', content: `load request ${n}: say something short` }],
          max_tokens: 32,
          ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
        }),
        signal: AbortSignal.timeout(timeout),
      });
      const text = await res.text();
      if (res.status >= 300) return { status: res.status };
      let cost: number | undefined;
      if (!stream) cost = Number(res.headers.get('x-tollgate-cost'));
      else {
        // The usage chunk carries the cost; a stream that never sent [DONE] broke mid-way.
        if (!text.includes('data: [DONE]')) return { status: 599 };
        for (const line of text.split('\n')) {
          if (!line.startsWith('data: {')) continue;
          const chunk = JSON.parse(line.slice(6)) as { usage?: { cost?: number }; cost?: number };
          const c = chunk.usage?.cost ?? chunk.cost;
          if (typeof c === 'number') cost = c;
        }
      }
      if (typeof cost === 'number' && Number.isFinite(cost)) state.reportedCost += cost;
      else state.unknownCost++;
      return { status: res.status };
    });
  };

  const upload = async (bytes = o.png): Promise<string | undefined> =>
    timed(state, 'upload', async () => {
      const form = new FormData();
      form.append('purpose', 'image');
      form.append('file', new Blob([bytes], { type: 'image/png' }), `load-${++sequence}.png`);
      const res = await fetch(`${o.gatewayUrl}/v1/files`, {
        method: 'POST',
        headers: auth,
        body: form,
        signal: AbortSignal.timeout(timeout),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: string };
      if (res.status === 201 && body.id) state.uploadedFileIds.push(body.id);
      return { status: res.status, value: body.id };
    });

  const ingest = async () => {
    const fileId = await upload(o.artwork ?? o.png);
    if (!fileId) return;
    await timed(state, 'ingest', async () => {
      const res = await fetch(`${o.gatewayUrl}/v1/images/ingest`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ file_id: fileId, profile: 'sticker' }),
        signal: AbortSignal.timeout(timeout),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: string; image?: { id?: string } };
      const id = body.id ?? body.image?.id;
      if (res.status < 300 && id) state.ingestedImageIds.push(id);
      return { status: res.status };
    });
  };

  const user = async (index: number) => {
    let turn = index;
    while (!o.shouldStop()) {
      turn++;
      const pick = Math.random();
      if (pick < mix.chat) await chat(turn % 2 === 0);
      else if (pick < mix.chat + mix.upload) await upload();
      else await ingest();
      // A request answered with no connection at all (a service being restarted): don't spin.
      if (Object.values(state.routes).some((r) => r.networkErrors > 0)) await new Promise((r) => setTimeout(r, 20));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, i) => user(i)));
  state.stoppedAt = Date.now();
}

/**
 * Mesh env for load: the per-key rate limits raised so the soak measures the platform rather than
 * its 429s (the limiter still runs, in Redis, on every request).
 */
export const LOAD_MESH_ENV: Record<string, string> = {
  RATE_LIMIT_COMPLETION: '1000000',
  RATE_LIMIT_GENERATION: '1000000',
  RATE_LIMIT_WRITE: '1000000',
  RATE_LIMIT_READ: '1000000',
  RATE_LIMIT_IP: '1000000',
};

export async function makeImages(): Promise<{ png: Buffer; artwork: Buffer }> {
  const sharp = (await import('sharp')).default;
  const png = await sharp({ create: { width: 64, height: 64, channels: 4, background: { r: 30, g: 140, b: 200, alpha: 1 } } })
    .png()
    .toBuffer();
  const artwork = await sharp({ create: { width: 1200, height: 1200, channels: 4, background: { r: 200, g: 40, b: 90, alpha: 1 } } })
    .png()
    .toBuffer();
  return { png, artwork };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export function routeTable(state: LoadState): string {
  const seconds = ((state.stoppedAt ?? Date.now()) - state.startedAt) / 1000;
  const lines = [
    '| route | requests | ok | req/s | p50 ms | p99 ms | 5xx | 4xx | no answer |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, r] of Object.entries(state.routes)) {
    const sorted = [...r.latenciesMs].sort((a, b) => a - b);
    lines.push(
      `| ${name} | ${r.count} | ${r.ok} | ${round(r.count / seconds)} | ${round(percentile(sorted, 50))} | ${round(percentile(sorted, 99))} | ${r.status5xx} | ${r.status4xx} | ${r.networkErrors} |`,
    );
  }
  return lines.join('\n');
}

/** Resident memory of each mesh process, in MiB, from /proc/<pid>/status. */
export function rssMiB(mesh: Mesh): Record<MeshServiceName, number> {
  const out = {} as Record<MeshServiceName, number>;
  for (const s of MESH_SERVICES) {
    const pid = mesh.processes[s.name].pid;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      out[s.name] = round(kb / 1024);
    } catch {
      out[s.name] = NaN;
    }
  }
  return out;
}

export async function reconcileLedger(mesh: Mesh): Promise<{ ok: boolean; report: any }> {
  const res = await fetch(`${mesh.urls.credits}/internal/v1/reconcile`, {
    method: 'POST',
    headers: { 'x-tollgate-identity': signServiceIdentity('load', mesh.internalSecret) },
    signal: AbortSignal.timeout(60_000),
  });
  const report = (await res.json()) as { ok?: boolean };
  return { ok: res.status === 200 && report.ok === true, report };
}

/** Every delivery of the tenant's endpoint (all pages). */
export async function listDeliveries(
  api: Api,
  tenant: LoadTenant,
): Promise<{ id: string; event_id: string; event_type: string; status: string }[]> {
  const all: { id: string; event_id: string; event_type: string; status: string }[] = [];
  let cursor: string | undefined;
  do {
    const res = await api(
      'GET',
      `/v1/webhooks/endpoints/${tenant.endpointId}/deliveries?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { token: tenant.key },
    );
    if (res.status !== 200) throw new Error(`deliveries: ${res.status} ${JSON.stringify(res.body)}`);
    all.push(...res.body.data);
    cursor = res.body.next_cursor ?? undefined;
  } while (cursor);
  return all;
}

export interface EventCheck {
  ok: boolean;
  deliveries: number;
  succeeded: number;
  pending: number;
  failed: number;
  /** Distinct event ids the receiver answered 2xx for. */
  receivedOk: number;
  /** Succeeded per the platform, never received 2xx: lost. */
  succeededNotReceived: number;
  /** Uploads answered 201 without a file.uploaded delivery: an event never emitted. */
  uploadsWithoutEvent: number;
  detail: string;
}

/**
 * Compares what the platform emitted (its delivery log for the endpoint, and every 201 upload
 * we saw) with what the receiver got. `allowPending`: pending (in a retry state) counts as not lost.
 */
export async function checkEvents(
  api: Api,
  tenant: LoadTenant,
  receiver: WebhookReceiver,
  state: LoadState,
  allowPending: boolean,
): Promise<EventCheck> {
  const deliveries = await listDeliveries(api, tenant);
  const receivedOk = new Set(
    receiver.received.filter((r) => r.answeredStatus < 300 && r.path === tenant.hookPath).map((r) => String(r.headers['webhook-id'])),
  );
  const succeeded = deliveries.filter((d) => d.status === 'succeeded');
  const pending = deliveries.filter((d) => d.status === 'pending');
  const failed = deliveries.filter((d) => d.status === 'failed');
  const succeededNotReceived = succeeded.filter((d) => !receivedOk.has(d.event_id)).length;
  const fileEvents = new Set<string>();
  for (const r of receiver.received) {
    if (r.path !== tenant.hookPath || r.answeredStatus >= 300) continue;
    try {
      const payload = JSON.parse(r.rawBody) as { type?: string; data?: { file?: { id?: string } } };
      if (payload.type === 'file.uploaded') fileEvents.add(String(payload.data?.file?.id));
    } catch {
      // not JSON: not ours
    }
  }
  const pendingFileEvents = pending.filter((d) => d.event_type === 'file.uploaded').length;
  const uploadsWithoutEvent = Math.max(
    0,
    state.uploadedFileIds.filter((id) => !fileEvents.has(id)).length - (allowPending ? pendingFileEvents : 0),
  );
  const ok = failed.length === 0 && succeededNotReceived === 0 && uploadsWithoutEvent === 0 && (allowPending || pending.length === 0);
  return {
    ok,
    deliveries: deliveries.length,
    succeeded: succeeded.length,
    pending: pending.length,
    failed: failed.length,
    receivedOk: receivedOk.size,
    succeededNotReceived,
    uploadsWithoutEvent,
    detail: `${deliveries.length} deliveries: ${succeeded.length} succeeded, ${pending.length} pending, ${failed.length} failed; receiver got ${receivedOk.size} distinct events 2xx; ${succeededNotReceived} succeeded-but-not-received; ${state.uploadedFileIds.length} uploads, ${uploadsWithoutEvent} without a file.uploaded event`,
  };
}

/** Waits until no delivery is pending (or the deadline), then checks. */
export async function drainAndCheckEvents(
  api: Api,
  tenant: LoadTenant,
  receiver: WebhookReceiver,
  state: LoadState,
  timeoutMs: number,
  allowPending = false,
): Promise<EventCheck> {
  try {
    await eventually(
      async () => {
        const check = await checkEvents(api, tenant, receiver, state, false);
        return check.ok;
      },
      'every event delivered',
      timeoutMs,
    );
  } catch {
    // report whatever the state is
  }
  return checkEvents(api, tenant, receiver, state, allowPending);
}

export interface MoneyCheck {
  ok: boolean;
  reconciled: boolean;
  held: number;
  available: number;
  expected: number;
  detail: string;
}

/**
 * The ledger reconciles, no hold is left, and the balance is exactly the top-up minus the costs
 * the platform reported for successful calls (none lost, none charged twice). `tolerateUnknown`:
 * calls that failed mid-way (a fault) may have been charged without our seeing the cost.
 */
export async function checkMoney(mesh: Mesh, api: Api, tenant: LoadTenant, state: LoadState, timeoutMs = 60_000): Promise<MoneyCheck> {
  let balance: { available: number; held: number } = { available: NaN, held: NaN };
  try {
    balance = await eventually(
      async () => {
        const b = await api('GET', '/v1/credits/balance', { token: tenant.key });
        return b.status === 200 && b.body.held === 0 ? b.body : undefined;
      },
      'holds to settle',
      timeoutMs,
    );
  } catch {
    const b = await api('GET', '/v1/credits/balance', { token: tenant.key }).catch(() => undefined);
    if (b?.status === 200) balance = b.body;
  }
  const { ok: reconciled, report } = await reconcileLedger(mesh);
  const expected = tenant.topUp - state.reportedCost;
  const exact = balance.available === expected;
  return {
    ok: reconciled && balance.held === 0 && exact && state.unknownCost === 0,
    reconciled,
    held: balance.held,
    available: balance.available,
    expected,
    detail: `reconcile ${reconciled ? 'ok' : `MISMATCH ${JSON.stringify(report.mismatch)}`} (${report.counts?.transactions} transactions); held ${balance.held}; available ${balance.available} vs expected ${expected} (top-up − ${state.reportedCost} reported costs, diff ${balance.available - expected}); ${state.unknownCost} successful calls without a readable cost`,
  };
}

/** Images whose ingest was accepted and that are still in a working state. */
export async function stuckImages(
  api: Api,
  tenant: LoadTenant,
  state: LoadState,
): Promise<{ stuck: string[]; byStatus: Record<string, number>; failures: Record<string, number> }> {
  const byStatus: Record<string, number> = {};
  /** Why the failed ones failed (code: message), so a report says whether a fault caused it. */
  const failures: Record<string, number> = {};
  const stuck: string[] = [];
  for (const id of state.ingestedImageIds) {
    const res = await api('GET', `/v1/images/${id}`, { token: tenant.key });
    const status = res.status === 200 ? String(res.body.status) : `http ${res.status}`;
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (status === 'failed') {
      const reason = `${res.body.failure?.code ?? '?'}: ${String(res.body.failure?.message ?? '').slice(0, 120)}`;
      failures[reason] = (failures[reason] ?? 0) + 1;
    }
    if (['queued', 'generating', 'processing', 'publishing'].includes(status) || res.status !== 200) stuck.push(id);
  }
  return { stuck, byStatus, failures };
}

export async function waitForImages(api: Api, tenant: LoadTenant, state: LoadState, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  let last = await stuckImages(api, tenant, state);
  while (last.stuck.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1_000));
    last = await stuckImages(api, tenant, state);
  }
  return last;
}

export { apiClient };
