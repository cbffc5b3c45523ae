import { type RawBuilder, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { z } from 'zod';
import { AppError } from './errors';

/** Longest cursor accepted; the query schemas cap it at the same length. */
const MAX_CURSOR_LENGTH = 512;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function invalidCursor(): AppError {
  return new AppError('VALIDATION_FAILED', 'Invalid cursor', { details: { param: 'cursor' } });
}

/**
 * Opaque cursors: base64url of a small JSON tuple (e.g. `[created_at, id]`) so clients can't
 * depend on their shape. A malformed cursor is a 400, never a 500.
 */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] {
  // Buffer.from skips characters that are not base64: check first, so junk is a 400, not a guess.
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) throw invalidCursor();
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === arity && parsed.every((v) => typeof v === 'string' || typeof v === 'number')) {
      return parsed as (string | number)[];
    }
  } catch {
    // fall through
  }
  throw invalidCursor();
}

/** A keyset position in a newest-first list ordered by `(created_at, id)`. */
export interface TimeCursor {
  createdAt: Date;
  id: string;
}

/** Decodes a `[created_at ISO, id]` cursor; an invalid date or a non-string id is a 400 like any malformed cursor. */
export function decodeTimeCursor(cursor: string): TimeCursor {
  const [createdAt, id] = decodeCursor(cursor, 2);
  if (typeof createdAt !== 'string' || typeof id !== 'string' || id === '') throw invalidCursor();
  const date = new Date(createdAt);
  if (Number.isNaN(date.getTime())) throw invalidCursor();
  return { createdAt: date, id };
}

/** Decodes a `[sequence]` cursor (an integer key such as a ledger seq or a bigserial id). */
export function decodeSeqCursor(cursor: string): number {
  const [seq] = decodeCursor(cursor, 1);
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) throw invalidCursor();
  return seq;
}

/** The cursor of a row in a `(created_at, id)` list: what decodeTimeCursor reads back. */
export function timeCursorOf(row: { created_at: Date | string; id: string }): string[] {
  return [new Date(row.created_at).toISOString(), row.id];
}

/**
 * The rows that come after `cursor` in a newest-first `(created_at, id)` list:
 * `(created_at, id) < (cursor.createdAt, cursor.id)`, a row comparison the (created_at, id) index serves.
 * Column names may be qualified (`deliveries.created_at`) where a query joins.
 */
export function afterCursor(cursor: TimeCursor, createdAtColumn = 'created_at', idColumn = 'id'): RawBuilder<SqlBool> {
  return sql<SqlBool>`(${sql.ref(createdAtColumn)}, ${sql.ref(idColumn)}) < (${cursor.createdAt}, ${cursor.id})`;
}

/**
 * One page of a newest-first `(created_at, id)` list: the rows after `cursor`, in order, `limit + 1`
 * of them (toTimePage turns the extra row into next_cursor).
 */
export function newestFirstPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  cursor: TimeCursor | undefined,
  limit: number,
): SelectQueryBuilder<DB, TB, O> {
  return (cursor ? query.where(afterCursor(cursor)) : query)
    .orderBy(sql.ref('created_at'), 'desc')
    .orderBy(sql.ref('id'), 'desc')
    .limit(limit + 1);
}

export const paginationQuery = z.object({
  cursor: z.string().max(MAX_CURSOR_LENGTH).optional(),
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

/** toPage for a `(created_at, id)` list. */
export function toTimePage<Row extends { created_at: Date | string; id: string }, T>(
  rows: Row[],
  limit: number,
  toItem: (row: Row) => T,
): Page<T> {
  return toPage(rows, limit, toItem, timeCursorOf);
}
