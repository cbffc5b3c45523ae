import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema';

/** SQLSTATE codes we act on. */
export const PG = {
  UNIQUE_VIOLATION: '23505',
  CHECK_VIOLATION: '23514',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
} as const;

interface PgError {
  code?: string;
  constraint?: string;
}

export function pgErrorCode(err: unknown): string | undefined {
  return typeof (err as PgError)?.code === 'string' ? (err as PgError).code : undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  return pgErrorCode(err) === PG.UNIQUE_VIOLATION && (constraint === undefined || (err as PgError).constraint === constraint);
}

/**
 * Runs `work` in one database transaction (READ COMMITTED). Our own lock order means deadlocks
 * should not happen, but if Postgres ever reports one (or a serialization failure), the whole
 * use case is retried from the start: it wrote nothing, since the transaction rolled back.
 */
export async function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (err) {
      const code = pgErrorCode(err);
      const retryable = code === PG.SERIALIZATION_FAILURE || code === PG.DEADLOCK_DETECTED;
      if (!retryable || attempt >= attempts) throw err;
    }
  }
}
