import type { NextFunction, Request, Response } from 'express';
import { settleUnreadBody } from './unread-body';

export interface ReceiveDeadlineOptions {
  /** How long a request may take to arrive in full (headers and body). */
  ms: number;
  /** Requests held only to the listener's own (longer) requestTimeout: streamed uploads. */
  exempt: (req: Request) => boolean;
}

/**
 * Node's `requestTimeout` is one per listener, and uploads need far longer than any other
 * request. So the listener gets the upload deadline, and this holds every other request to the
 * general one: a body still arriving when it passes is answered 408 (the envelope Node's own
 * timeout gets from startServer's clientError handler) and the connection is closed.
 */
export function receiveDeadline(options: ReceiveDeadlineOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.complete || options.exempt(req)) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (req.complete) return;
      if (res.headersSent) {
        // Answering already (a proxied response streaming back): all that is left is to cut it.
        req.socket.destroy();
        return;
      }
      res.setHeader('Connection', 'close');
      settleUnreadBody(req, res);
      const body = JSON.stringify({
        error: { code: 'VALIDATION_FAILED', message: 'The request took too long to arrive', request_id: req.requestId ?? null, details: { timeout_ms: options.ms } },
      });
      res.writeHead(408, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
    }, options.ms);
    timer.unref();
    // Only the request's own end stops it: a refused request's answer is sent (and `res` closed)
    // while its body may still be arriving, and that body is held to the deadline too.
    const stop = () => clearTimeout(timer);
    req.once('end', stop);
    req.once('close', stop);
    next();
  };
}
