import { newestFirstPage, type TimeCursor } from '@tollgate/common';
import type { Db, NewTenantRow, TenantRateLimits, TenantRow } from '../db';

/** Every column of tenants is safe to read; listed anyway so a new secret column is opt-in. */
const TENANT_COLUMNS = ['id', 'name', 'rate_limits', 'created_at', 'updated_at'] as const;

export async function insertTenant(db: Db, row: NewTenantRow): Promise<TenantRow> {
  return db.insertInto('tenants').values(row).returning(TENANT_COLUMNS).executeTakeFirstOrThrow();
}

export async function findTenant(db: Db, id: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').select(TENANT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function findTenantRateLimits(db: Db, id: string): Promise<TenantRateLimits | undefined> {
  const row = await db.selectFrom('tenants').select('rate_limits').where('id', '=', id).executeTakeFirst();
  return row?.rate_limits;
}

export async function listTenants(db: Db, limit: number, after?: TimeCursor): Promise<TenantRow[]> {
  return newestFirstPage(db.selectFrom('tenants').select(TENANT_COLUMNS), after, limit).execute();
}

export async function updateTenant(
  db: Db,
  id: string,
  changes: { name?: string; rateLimits?: TenantRateLimits },
  now: Date,
): Promise<TenantRow | undefined> {
  return db
    .updateTable('tenants')
    .set({
      updated_at: now,
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.rateLimits !== undefined ? { rate_limits: JSON.stringify(changes.rateLimits) } : {}),
    })
    .where('id', '=', id)
    .returning(TENANT_COLUMNS)
    .executeTakeFirst();
}
