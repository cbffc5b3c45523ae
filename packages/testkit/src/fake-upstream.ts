import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RecordedRequest } from './fake-openai';
import { listen, type Listening } from './http';

/** Behaviours a test queues for a fake upstream: consumed in order, each for `times` requests (unset: for good). */
export interface BehaviourScript<B extends { times?: number }> {
  /** What the next request meets: the head of the queue, or the default (`{}`) when it is empty. */
  next(): B;
  push(behaviour: B): void;
  clear(): void;
}

export function behaviourScript<B extends { times?: number }>(): BehaviourScript<B> {
  let queue: B[] = [];
  return {
    next() {
      const head = queue[0];
      if (!head) return {} as B;
      if (head.times !== undefined && --head.times <= 0) queue.shift();
      return head;
    },
    push: (behaviour) => queue.push({ ...behaviour }),
    clear: () => {
      queue = [];
    },
  };
}

export interface FakeUpstreamServer<B extends { times?: number }> extends Listening {
  requests: RecordedRequest[];
  behave(behaviour: B): void;
  reset(): void;
}

/**
 * What every fake provider shares around its own wire format: the handler on an ephemeral port
 * (a handler that throws destroys its socket), the script and the recorded requests, and a close
 * that cuts the streams still open instead of waiting for them.
 */
export async function serveFakeUpstream<B extends { times?: number }>(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  requests: RecordedRequest[],
  script: BehaviourScript<B>,
): Promise<FakeUpstreamServer<B>> {
  const sockets = new Set<Socket>();
  const listening = await listen((req, res) => {
    void handler(req, res).catch(() => res.destroy());
  });
  listening.server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    ...listening,
    requests,
    behave: (behaviour) => script.push(behaviour),
    reset: () => {
      script.clear();
      requests.length = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await listening.close();
    },
  };
}
