import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { FileRow } from '../db';
import type { ByteRange, ObjectStorage } from '../storage';
import { contentDisposition } from './names';

const ACTIVE_TYPES = new Set(['text/html', 'image/svg+xml', 'application/xml', 'text/x-shellscript']);
const TEXT_TYPES = /^(text\/|application\/json$)/;

/**
 * Parse a single `bytes=` range (RFC 9110 §14). Invalid or multi-range headers are ignored
 * (the whole file is sent); a range starting past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

/**
 * Send a file's bytes: its detected type, nosniff, a sandboxing CSP, ETag = SHA-256 (with
 * If-None-Match / If-Range), Range requests, and a Content-Disposition that is always
 * `attachment` for active content (SVG, HTML) whatever the caller asks.
 */
export async function sendFileContent(req: Request, res: Response, file: FileRow, storage: ObjectStorage): Promise<void> {
  const etag = `"${file.sha256}"`;
  res.setHeader('ETag', etag);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'private, no-cache');

  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch && (ifNoneMatch.trim() === '*' || ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    res.status(304).end();
    return;
  }
  const ifRange = req.header('if-range');
  let range = ifRange === undefined || ifRange.trim() === etag ? parseRange(req.headers.range, file.bytes) : undefined;
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${file.bytes}`);
    res.status(416).end();
    return;
  }
  if (range && range.start === 0 && range.end === file.bytes - 1) range = undefined;

  // Open the object before committing to a status, so a storage failure is still a clean 5xx.
  const body = req.method === 'HEAD' ? undefined : await storage.read(file.storage_key, range);
  const active = ACTIVE_TYPES.has(file.mime_type);
  const download = active || req.query['download'] === 'true' || req.query['download'] === '1';
  res.setHeader('Content-Type', TEXT_TYPES.test(file.mime_type) ? `${file.mime_type}; charset=utf-8` : file.mime_type);
  res.setHeader('Content-Disposition', contentDisposition(download ? 'attachment' : 'inline', file.filename));
  res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Last-Modified', new Date(file.created_at).toUTCString());
  res.setHeader('Content-Length', String(range ? range.end - range.start + 1 : file.bytes));
  if (range) {
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${file.bytes}`);
    res.status(206);
  } else {
    res.status(200);
  }
  if (!body) {
    res.end();
    return;
  }
  try {
    await pipeline(body, res);
  } catch (err) {
    // A client that goes away mid-download is not a server error.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  }
}
