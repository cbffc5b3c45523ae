import { z } from 'zod';
import { AppError } from './errors';

/**
 * Opaque cursors: base64url of a small JSON tuple (e.g. `[created_at, id]`) so clients can't
 * depend on their shape. A malformed cursor is a 400, never a 500.
 */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === arity && parsed.every((v) => typeof v === 'string' || typeof v === 'number')) {
      return parsed as (string | number)[];
    }
  } catch {
    // fall through
  }
  throw new AppError('VALIDATION_FAILED', 'Invalid cursor', { details: { param: 'cursor' } });
}

export const paginationQuery = z.object({
  cursor: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** Build a page from `limit + 1` fetched rows: the extra row only tells that there is more. */
export function toPage<Row, T>(rows: Row[], limit: number, toItem: (row: Row) => T, cursorOf: (row: Row) => (string | number)[]): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { data: pageRows.map(toItem), next_cursor: hasMore && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}
