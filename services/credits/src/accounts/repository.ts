import { sql } from 'kysely';
import type { Db } from '../db/schema';

/** The columns every balance-changing statement returns: what low-balance and responses need. */
export const BALANCE_COLUMNS = ['id', 'tenant_id', 'balance', 'held', 'low_balance_threshold', 'low_balance_notified'] as const;

/** A tenant account's balances as read (or as left by an update, from RETURNING). */
export interface TenantBalance {
  id: string;
  tenant_id: string;
  balance: number;
  held: number;
  low_balance_threshold: number | null;
  low_balance_notified: boolean;
}

export type ReturnedRow = {
  id: string;
  tenant_id: string | null;
  balance: number | null;
  held: number | null;
  low_balance_threshold: number | null;
  low_balance_notified: boolean;
};

export function asTenantBalance(row: ReturnedRow | undefined): TenantBalance | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    tenant_id: row.tenant_id!,
    balance: row.balance!,
    held: row.held!,
    low_balance_threshold: row.low_balance_threshold,
    low_balance_notified: row.low_balance_notified,
  };
}

export async function findTenantAccount(db: Db, tenantId: string): Promise<TenantBalance | undefined> {
  const row = await db
    .selectFrom('accounts')
    .select(BALANCE_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'tenant')
    .executeTakeFirst();
  return asTenantBalance(row);
}

/** Creates the tenant's account with nothing in it, unless it exists (tenants live in the gateway). */
export async function ensureTenantAccount(db: Db, tenantId: string, newAccountId: string, now: Date): Promise<void> {
  await db
    .insertInto('accounts')
    .values({ id: newAccountId, kind: 'tenant', tenant_id: tenantId, balance: 0, held: 0, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
}

/** Adds to the posted balance unless that would pass `maxBalance`. Undefined when it would. */
export async function creditBalance(
  db: Db,
  tenantId: string,
  amount: number,
  maxBalance: number,
  now: Date,
): Promise<TenantBalance | undefined> {
  const row = await db
    .updateTable('accounts')
    .set({ balance: sql`balance + ${amount}`, updated_at: now })
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'tenant')
    .where(sql<boolean>`balance <= ${maxBalance - amount}`)
    .returning(BALANCE_COLUMNS)
    .executeTakeFirst();
  return asTenantBalance(row);
}

/**
 * Ends a hold: its whole amount leaves `held`, and `captured` (≤ the hold) leaves the posted
 * balance. balance - held grows by the uncaptured rest, so this can never overdraw.
 */
export async function settleHeld(db: Db, accountId: string, holdAmount: number, captured: number, now: Date): Promise<TenantBalance> {
  const row = await db
    .updateTable('accounts')
    .set({ balance: sql`balance - ${captured}`, held: sql`held - ${holdAmount}`, updated_at: now })
    .where('id', '=', accountId)
    .returning(BALANCE_COLUMNS)
    .executeTakeFirstOrThrow();
  return asTenantBalance(row)!;
}

export async function setLowBalanceNotified(db: Db, accountId: string, notified: boolean): Promise<void> {
  await db.updateTable('accounts').set({ low_balance_notified: notified }).where('id', '=', accountId).execute();
}

/** Sets (or, with null, clears back to the default) the tenant's low-balance threshold and re-arms it. */
export async function setLowBalanceThreshold(db: Db, tenantId: string, threshold: number | null, now: Date): Promise<TenantBalance> {
  const row = await db
    .updateTable('accounts')
    .set({ low_balance_threshold: threshold, low_balance_notified: false, updated_at: now })
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'tenant')
    .returning(BALANCE_COLUMNS)
    .executeTakeFirstOrThrow();
  return asTenantBalance(row)!;
}
