import { createHash } from 'node:crypto';
import { prefixedId } from '@tollgate/common';
import { z } from 'zod';

/**
 * The largest amount one operation may move: 10^15 micro-credits (a billion credits), far
 * below 2^53 so sums of many amounts stay exact in JS numbers and BIGINT columns.
 */
export const MAX_AMOUNT = 1_000_000_000_000_000;

/** The largest balance an account may reach (the DB refuses more; JS numbers stay exact). */
export const MAX_BALANCE = Number.MAX_SAFE_INTEGER;

/**
 * Amounts are JSON integers of micro-credits: strings, fractions, zero, negatives, NaN and
 * anything above MAX_AMOUNT are refused (never coerced).
 */
export const positiveAmount = z
  .number({ error: 'must be an integer number of micro-credits' })
  .int({ error: 'must be a whole number of micro-credits' })
  .positive({ error: 'must be greater than zero' })
  .max(MAX_AMOUNT, { error: `must be at most ${MAX_AMOUNT}` });

/** Like positiveAmount, but zero is allowed (a capture of nothing releases the whole hold). */
export const nonNegativeAmount = z
  .number({ error: 'must be an integer number of micro-credits' })
  .int({ error: 'must be a whole number of micro-credits' })
  .min(0, { error: 'must not be negative' })
  .max(MAX_AMOUNT, { error: `must be at most ${MAX_AMOUNT}` });

export const TENANT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const tenantIdSchema = z
  .string({ error: 'must be a string' })
  .regex(TENANT_ID_PATTERN, { error: 'must be 1-64 letters, digits, "_" or "-"' });

/** Printable ASCII without spaces, like HTTP header tokens. */
export const idempotencyKeySchema = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(255, { error: 'must be at most 255 characters' })
  .regex(/^[\x21-\x7E]+$/, { error: 'must be printable ASCII without spaces' });

export const descriptionSchema = z.string({ error: 'must be a string' }).max(500, { error: 'must be at most 500 characters' });

export const holdIdSchema = prefixedId('hold');

export const tenantParams = z.object({ tenant_id: tenantIdSchema });
export const adminTenantParams = z.object({ id: tenantIdSchema });
export const holdParams = z.object({ id: holdIdSchema });

/**
 * Fingerprint of an operation's parameters, stored next to its idempotency key: a retry with
 * the same key must carry the same fingerprint, or it is a different request (422).
 */
export function requestHash(operation: string, params: Record<string, string | number | null>): string {
  const canonical = JSON.stringify([
    operation,
    ...Object.keys(params)
      .sort()
      .map((k) => [k, params[k]]),
  ]);
  return createHash('sha256').update(canonical).digest('base64url');
}
