import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MESH_SERVICES, type Mesh } from '@tollgate/testkit';
import type { Api } from './api';
import type { LoadState, LoadTenant } from './load';

/** The model the fault mesh routes to the fake OpenAI provider (so it can be made to fail). */
export const FAULT_MODEL = 'fault-1';

/**
 * An ai-proxy routing file (format: services/ai-proxy/routing.example.yaml) sending FAULT_MODEL to
 * an OpenAI-compatible fake, with short timeouts and a quickly half-opening breaker so recovery
 * is observable within a quick run. Returns its path (for ROUTING_CONFIG_PATH).
 */
export function writeFaultRouting(fakeOpenAiUrl: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-fault-'));
  const file = path.join(dir, 'routing.yaml');
  writeFileSync(
    file,
    [
      'defaults:',
      '  timeout_ms: 5000',
      '  retries: 1',
      '  deadline_ms: 10000',
      '  retry_base_delay_ms: 50',
      '  retry_max_delay_ms: 200',
      '  breaker_failures: 5',
      '  breaker_half_open_after_ms: 2000',
      'limits:',
      '  tokens_per_minute: 0',
      'models:',
      `  ${FAULT_MODEL}:`,
      '    price: { input_per_1k: 150, output_per_1k: 600 }',
      '    max_output_tokens: 64',
      '    targets:',
      `      - { id: fake-openai, provider: openai, model: gpt-fake, base_url: "${fakeOpenAiUrl}/v1", api_key_env: FAKE_OPENAI_API_KEY }`,
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * Mesh env for the fault run: workers notice a dead peer's jobs and stuck deliveries within
 * seconds instead of the production minutes, so "recovered" can be checked in a quick run.
 */
export function faultMeshEnv(routingFile: string): Record<string, string> {
  return {
    ROUTING_CONFIG_PATH: routingFile,
    FAKE_OPENAI_API_KEY: 'sk-fake-fault',
    HOLD_TTL_MARGIN_S: '5',
    WEBHOOK_RETRY_SCHEDULE: '0,1s,2s,3s,5s,5s,10s,10s,20s,30s,30s,60s,60s,120s',
    WEBHOOK_RETRY_JITTER: '0',
    WEBHOOK_LOCK_DURATION_MS: '5000',
    WEBHOOK_STALLED_INTERVAL_MS: '2000',
    WEBHOOK_SWEEP_INTERVAL_MS: '2000',
    WEBHOOK_SWEEP_GRACE_MS: '5000',
    WEBHOOK_REQUEST_TIMEOUT_MS: '3000',
    WORKER_LOCK_DURATION_MS: '5000',
    WORKER_STALLED_INTERVAL_MS: '2000',
    RECOVERY_INTERVAL_MS: '3000',
    RECOVERY_AFTER_S: '10',
    IMAGE_JOB_BACKOFF_MS: '500',
  };
}

/** Services not answering /readyz 200, each with whether its process is still alive. */
export async function notReady(mesh: Mesh): Promise<string[]> {
  const out: string[] = [];
  for (const s of MESH_SERVICES) {
    const child = mesh.processes[s.name];
    const exited = child.exitCode !== null || child.signalCode !== null;
    let status = 'no answer';
    try {
      const res = await fetch(`${mesh.urls[s.name]}/readyz`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) continue;
      status = `${res.status} ${(await res.text()).slice(0, 200)}`;
    } catch {
      // no answer
    }
    const lastError = [...mesh.logs[s.name]].reverse().find((l) => (l['level'] as number) >= 50 || l['raw']);
    out.push(`${s.name}: ${exited ? `process EXITED (code ${child.exitCode}, signal ${child.signalCode})` : 'process alive'}, readyz ${status}${lastError ? `; last error log: ${JSON.stringify(lastError).slice(0, 300)}` : ''}`);
  }
  return out;
}

/** Milliseconds until every service answers /readyz 200 (or -1 after timeoutMs). */
export async function timeToAllReady(mesh: Mesh, timeoutMs: number): Promise<number> {
  const started = Date.now();
  const pending = new Set(MESH_SERVICES.map((s) => s.name));
  while (Date.now() - started < timeoutMs) {
    await Promise.all(
      [...pending].map(async (name) => {
        try {
          const res = await fetch(`${mesh.urls[name]}/readyz`, { signal: AbortSignal.timeout(1_000) });
          if (res.ok) pending.delete(name);
        } catch {
          // not yet
        }
      }),
    );
    if (pending.size === 0) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  return -1;
}

/**
 * Milliseconds until a chat completion and an upload both succeed through the gateway (or -1).
 * Probes are traffic too: their costs and uploads go into the load's books.
 */
export async function timeToTrafficOk(api: Api, tenant: LoadTenant, state: LoadState, model: string, png: Buffer, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    let chatOk = false;
    let uploadOk = false;
    try {
      const chat = await api('POST', '/v1/chat/completions', { token: tenant.key, json: { model, messages: [{ role: 'user', content: 'are you back?' }], max_tokens: 8 } });
      if (chat.status === 200) {
        chatOk = true;
        const cost = Number(chat.headers.get('x-tollgate-cost'));
        if (Number.isFinite(cost)) state.reportedCost += cost;
        else state.unknownCost++;
      }
    } catch {
      // not yet
    }
    try {
      const form = new FormData();
      form.append('purpose', 'image');
      form.append('file', new Blob([png], { type: 'image/png' }), 'probe.png');
      const upload = await api('POST', '/v1/files', { token: tenant.key, body: form });
      if (upload.status === 201) {
        uploadOk = true;
        state.uploadedFileIds.push(upload.body.id);
      }
    } catch {
      // not yet
    }
    if (chatOk && uploadOk) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 250));
  }
  return -1;
}

/** Counts of answers by status during a window of the load, for a phase's report. */
export function snapshotStatuses(state: LoadState): Record<string, number> {
  return { ...state.statusCounts };
}

export function diffStatuses(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}
