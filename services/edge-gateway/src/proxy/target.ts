import { AppError } from '@tollgate/common';

/** A request target reduced to the one spelling the gateway classifies, routes and forwards. */
export interface CanonicalTarget {
  /** `/a/b`: no empty, `.` or `..` segments, percent-encoded unreserved characters decoded. */
  path: string;
  segments: string[];
  /** The query string as sent, without its `?`. */
  query: string | undefined;
  /** `scheme://authority` of an absolute-form target, else ''. */
  origin: string;
}

// RFC 9112 §3.2.2: a server must accept the absolute form (`GET http://host/v1/...`); only its path counts.
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

const refuse = (reason: string) => new AppError('VALIDATION_FAILED', `The request path cannot be read: ${reason}`, { details: { reason } });

/**
 * RFC 3986 §6.2.2 normalisation of one segment: escapes of unreserved characters are decoded
 * (`%61dmin` is `admin`), every other escape is kept with upper-case hex. Control characters
 * are refused.
 */
function normaliseSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  if (BAD_ESCAPE.test(segment)) throw refuse('malformed percent-encoding');
  return segment.replace(ESCAPE, (_m, hex: string) => {
    const code = parseInt(hex, 16);
    if (code < 0x20 || code === 0x7f) throw refuse('encoded control character');
    const char = String.fromCharCode(code);
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/**
 * Reduces a raw request target to its canonical path: the absolute form to its path, duplicate
 * slashes and a trailing slash dropped, `.` and `..` (plain or encoded) resolved. What cannot be
 * read that way (a `..` above the root, a backslash, a fragment, a malformed escape) is a 400.
 */
export function canonicalTarget(rawUrl: string): CanonicalTarget {
  let url = rawUrl;
  const absolute = ABSOLUTE_FORM.exec(url);
  const origin = absolute?.[0] ?? '';
  if (absolute) {
    url = url.slice(origin.length);
    if (url === '' || url.startsWith('?')) url = `/${url}`;
  }
  if (!url.startsWith('/')) throw refuse('the target must be a path or an absolute URL');
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const query = queryAt === -1 ? undefined : url.slice(queryAt + 1);
  if (rawPath.includes('\\')) throw refuse('backslash in the path');
  if (rawPath.includes('#')) throw refuse('fragment in the request target');
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    const segment = normaliseSegment(raw);
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) throw refuse('".." above the root');
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  return { path: `/${segments.join('/')}`, segments, query, origin };
}

/** An escaped "/" or "\" inside one segment: something downstream may decode and split it. */
export const hasEncodedSeparator = (segment: string): boolean => segment.includes('%2F') || segment.includes('%5C');
