import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '@tollgate/common';
import { gatewayState } from '../request-state';

export interface BodyDigest {
  bytes: number;
  /** Present when hashing was asked for and the body was read to its end. */
  sha256: string | undefined;
  /** The body was read to its end. */
  complete: boolean;
  exceeded: boolean;
  /** The bytes themselves, when asked for (`keep`; bounded by the limit): an audited admin body. */
  body?: Buffer;
}

export const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Whether a request carries a body at all (RFC 9112 §6.3: Transfer-Encoding or a non-zero length). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * Watches a body as it streams past, without holding it: counts bytes (calling onExceeded once
 * past `limit`) and optionally hashes. It adds a 'data' listener, so attach it in the same tick
 * as the consumer's pipe (the proxy's `proxyReq` event) or resume the stream yourself.
 */
export function meterBody(req: IncomingMessage, options: { limit: number; hash: boolean; keep?: boolean; onExceeded?: () => void }): Promise<BodyDigest> {
  const hash = options.hash ? createHash('sha256') : undefined;
  const kept: Buffer[] | undefined = options.keep ? [] : undefined;
  let bytes = 0;
  return new Promise<BodyDigest>((resolve) => {
    const finish = (digest: BodyDigest) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(digest);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > options.limit) {
        finish({ bytes, sha256: undefined, complete: false, exceeded: true });
        options.onExceeded?.();
        return;
      }
      hash?.update(chunk);
      kept?.push(chunk);
    };
    const onEnd = () =>
      finish({ bytes, sha256: hash?.digest('hex'), complete: true, exceeded: false, ...(kept ? { body: Buffer.concat(kept) } : {}) });
    const onAbort = () => {
      // 'close' also follows a normal 'end'; by then finish has run and this is a no-op.
      if (!req.readableEnded) finish({ bytes, sha256: undefined, complete: false, exceeded: false });
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAbort);
    req.once('close', onAbort);
  });
}

/** Reads a body to its end without keeping it (a replayed idempotent request), hashing it. */
export async function drainAndHash(req: IncomingMessage, limit: number): Promise<BodyDigest> {
  if (!hasBody(req)) return { bytes: 0, sha256: EMPTY_SHA256, complete: true, exceeded: false };
  const digest = meterBody(req, { limit, hash: true, onExceeded: () => req.pause() });
  req.resume();
  return digest;
}

export const tooLarge = (limit: number) =>
  new AppError('PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes allowed on this route`, { details: { limit_bytes: limit } });

/**
 * Refuses, before anything else runs, a body whose declared Content-Length is over the route's
 * limit. Chunked bodies have no length up front: the proxy meters them as they stream.
 */
export function enforceDeclaredBodyLimit(req: Request, _res: Response, next: NextFunction): void {
  const { bodyLimit } = gatewayState(req);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > bodyLimit) {
    // The error handler drains the unread body or closes the connection cleanly (settleUnreadBody).
    throw tooLarge(bodyLimit);
  }
  next();
}
