import type { Response } from 'express';
import { ClientGoneError } from '../providers/errors';
import type { StreamSink } from './service';

/**
 * An HTTP response as a stream sink in OpenAI's SSE framing (`data: <json>\n\n`, `data: [DONE]`).
 * Each event is written as it comes (no batching); when the socket is full we wait for it to
 * drain rather than buffer. The client closing the connection aborts `signal`.
 */
export function createSseSink(res: Response): StreamSink {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new ClientGoneError());
  });
  let started = false;
  const waitDrain = () =>
    new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        controller.signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        res.off('drain', onDrain);
        reject(new ClientGoneError());
      };
      res.once('drain', onDrain);
      controller.signal.addEventListener('abort', onAbort, { once: true });
    });
  return {
    signal: controller.signal,
    get started() {
      return started;
    },
    start(headers) {
      started = true;
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      });
    },
    async send(payload) {
      if (controller.signal.aborted) throw new ClientGoneError();
      if (!res.write(`data: ${JSON.stringify(payload)}\n\n`)) await waitDrain();
    },
    finish() {
      if (!res.writableEnded) res.end('data: [DONE]\n\n');
    },
    fail(payload) {
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(payload)}\n\n`);
    },
  };
}
