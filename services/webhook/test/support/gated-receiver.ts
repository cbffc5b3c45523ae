import type { IncomingHttpHeaders } from 'node:http';
import { listen, type Listening, readBody } from '@tollgate/testkit';

export interface GatedRequest {
  webhookId: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** True only when a 2xx was written to a client that was still connected. */
  answered2xx: boolean;
  /** The client went away before it was answered. */
  abandoned: boolean;
}

export interface GatedReceiver extends Listening {
  requests: GatedRequest[];
  /** Requests arrived and not yet answered (held by the gate). */
  held(): number;
  /** Answer every held request and every later one at once. */
  open(): void;
}

/**
 * A webhook receiver that answers the first `answerFirst` requests at once, then holds every
 * further request open until `open()`. Unlike the testkit receiver it records whether the
 * client was still there to get the 2xx, which is what "answered" means to a sender.
 */
export async function startGatedReceiver(answerFirst: number): Promise<GatedReceiver> {
  const requests: GatedRequest[] = [];
  const waiting: (() => void)[] = [];
  let gateOpen = false;
  let admitted = 0;
  const listening = await listen((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const entry: GatedRequest = {
        webhookId: String(req.headers['webhook-id']),
        headers: req.headers,
        rawBody: raw.toString('utf8'),
        answered2xx: false,
        abandoned: false,
      };
      requests.push(entry);
      let gone = false;
      res.once('close', () => {
        if (!res.writableFinished) {
          gone = true;
          entry.abandoned = true;
        }
      });
      admitted++;
      if (!gateOpen && admitted > answerFirst) await new Promise<void>((resolve) => waiting.push(resolve));
      if (gone || res.destroyed || req.socket.destroyed) {
        entry.abandoned = true;
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}', () => {
        entry.answered2xx = !gone;
      });
    })();
  });
  return {
    ...listening,
    requests,
    held: () => waiting.length,
    open() {
      gateOpen = true;
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}
