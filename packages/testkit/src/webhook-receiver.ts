import type { IncomingHttpHeaders } from 'node:http';
import { listen, type Listening, readBody } from './http';

export interface ReceivedWebhook {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received: signatures are checked over these, never a re-serialisation. */
  rawBody: string;
  /** The status the receiver answered. */
  answeredStatus: number;
}

export interface WebhookReceiver extends Listening {
  received: ReceivedWebhook[];
  /** Answer the next `times` requests with `status` (default: 500), then 2xx again. */
  failNext(times: number, status?: number, retryAfterSeconds?: number): void;
  /** Answer every request with `status` until told otherwise (`null` = healthy). */
  setStatus(status: number | null): void;
  /** Hold requests open this long before answering. */
  setDelay(ms: number): void;
  /** Resolves once `count` requests have arrived (or rejects after timeoutMs). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
}

/** A local webhook endpoint that records every request and can be told to fail. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let failures = 0;
  let failStatus = 500;
  let failRetryAfter: number | undefined;
  let fixedStatus: number | null = null;
  let delayMs = 0;
  const waiters: { count: number; resolve: () => void }[] = [];

  const listening = await listen((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      let status = 200;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fixedStatus !== null) status = fixedStatus;
      else if (failures > 0) {
        failures--;
        status = failStatus;
        if (failRetryAfter !== undefined) headers['retry-after'] = String(failRetryAfter);
      }
      received.push({ at: Date.now(), path: req.url ?? '/', headers: req.headers, rawBody: raw.toString('utf8'), answeredStatus: status });
      res.writeHead(status, headers);
      res.end(JSON.stringify({ ok: status < 300 }));
      for (const w of [...waiters]) {
        if (received.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    })().catch(() => res.destroy());
  });

  return {
    ...listening,
    received,
    failNext(times, status = 500, retryAfterSeconds) {
      failures = times;
      failStatus = status;
      failRetryAfter = retryAfterSeconds;
    },
    setStatus(status) {
      fixedStatus = status;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    waitFor(count, timeoutMs = 10_000) {
      if (received.length >= count) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`webhook receiver: expected ${count} requests, got ${received.length}`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(received);
          },
        });
      });
    },
  };
}
