import { newestFirstPage, type TimeCursor } from '@tollgate/common';
import { sql } from 'kysely';
import type { Db, EndpointRow, EndpointUpdate, NewEndpoint } from '../db/schema';

/** Every column a caller may see; the sealed secrets are read only by `signingSecretsOf`. */
export const PUBLIC_ENDPOINT_COLUMNS = [
  'id',
  'tenant_id',
  'url',
  'description',
  'event_types',
  'enabled',
  'disabled_reason',
  'disabled_at',
  'failing_since',
  'previous_secret_expires_at',
  'created_at',
  'updated_at',
] as const;

export type PublicEndpoint = Pick<EndpointRow, (typeof PUBLIC_ENDPOINT_COLUMNS)[number]>;

export async function insertEndpoint(db: Db, row: NewEndpoint): Promise<PublicEndpoint> {
  return db.insertInto('endpoints').values(row).returning(PUBLIC_ENDPOINT_COLUMNS).executeTakeFirstOrThrow();
}

export async function findEndpoint(db: Db, tenantId: string, id: string): Promise<PublicEndpoint | undefined> {
  return db
    .selectFrom('endpoints')
    .select(PUBLIC_ENDPOINT_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function findEndpointById(db: Db, id: string): Promise<PublicEndpoint | undefined> {
  return db.selectFrom('endpoints').select(PUBLIC_ENDPOINT_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/** Locks the row for the rest of the transaction (rotation, disabling). */
export async function lockEndpoint(db: Db, tenantId: string, id: string): Promise<PublicEndpoint | undefined> {
  return db
    .selectFrom('endpoints')
    .select(PUBLIC_ENDPOINT_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
}

export async function listEndpoints(db: Db, tenantId: string, limit: number, after?: TimeCursor): Promise<PublicEndpoint[]> {
  return newestFirstPage(
    db.selectFrom('endpoints').select(PUBLIC_ENDPOINT_COLUMNS).where('tenant_id', '=', tenantId),
    after,
    limit,
  ).execute();
}

export async function countEndpoints(db: Db, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('endpoints')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Enabled endpoints of a tenant (fan-out); filters are matched by the caller. */
export async function listEnabledEndpoints(db: Db, tenantId: string): Promise<Pick<EndpointRow, 'id' | 'event_types'>[]> {
  return db.selectFrom('endpoints').select(['id', 'event_types']).where('tenant_id', '=', tenantId).where('enabled', '=', true).execute();
}

export async function updateEndpoint(db: Db, tenantId: string, id: string, patch: EndpointUpdate): Promise<PublicEndpoint | undefined> {
  return db
    .updateTable('endpoints')
    .set(patch)
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .returning(PUBLIC_ENDPOINT_COLUMNS)
    .executeTakeFirst();
}

export async function deleteEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('endpoints').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export interface SigningState {
  id: string;
  tenant_id: string;
  url: string;
  enabled: boolean;
  failing_since: Date | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
}

/** What the sender needs: where to send and which secrets sign. */
export async function signingStateOf(db: Db, id: string): Promise<SigningState | undefined> {
  return db
    .selectFrom('endpoints')
    .select(['id', 'tenant_id', 'url', 'enabled', 'failing_since', 'secret_sealed', 'previous_secret_sealed', 'previous_secret_expires_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The first failure of a run starts the failure window; later ones leave it. */
export async function markEndpointFailing(db: Db, id: string, at: Date): Promise<Date | null> {
  const row = await db
    .updateTable('endpoints')
    .set({ failing_since: sql<Date>`coalesce(failing_since, ${at})` })
    .where('id', '=', id)
    .returning(['failing_since'])
    .executeTakeFirst();
  return (row?.failing_since as Date | null | undefined) ?? null;
}

/** Disables an enabled endpoint; returns false when it already was (so the event goes out once). */
export async function disableEndpoint(db: Db, id: string, reason: 'failing' | 'gone', at: Date): Promise<PublicEndpoint | undefined> {
  return db
    .updateTable('endpoints')
    .set({ enabled: false, disabled_reason: reason, disabled_at: at, updated_at: at })
    .where('id', '=', id)
    .where('enabled', '=', true)
    .returning(PUBLIC_ENDPOINT_COLUMNS)
    .executeTakeFirst();
}
