import type { ApiKeyRow, Db, NewApiKeyRow, TenantRateLimits } from '../db';

/** What lists and responses show: never key_hash. */
const PUBLIC_KEY_COLUMNS = ['id', 'tenant_id', 'name', 'prefix', 'scopes', 'expires_at', 'revoked_at', 'created_at'] as const;
export type PublicApiKeyRow = Pick<ApiKeyRow, (typeof PUBLIC_KEY_COLUMNS)[number]>;

export async function insertKey(db: Db, row: NewApiKeyRow): Promise<PublicApiKeyRow> {
  return db.insertInto('api_keys').values(row).returning(PUBLIC_KEY_COLUMNS).executeTakeFirstOrThrow();
}

export async function findKey(db: Db, id: string): Promise<PublicApiKeyRow | undefined> {
  return db.selectFrom('api_keys').select(PUBLIC_KEY_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function listKeys(db: Db, tenantId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<PublicApiKeyRow[]> {
  let query = db.selectFrom('api_keys').select(PUBLIC_KEY_COLUMNS).where('tenant_id', '=', tenantId);
  if (after) {
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Sets revoked_at once; returns the row with the hash so replicas can drop it from their caches. */
export async function revokeKey(db: Db, id: string, now: Date): Promise<(PublicApiKeyRow & { key_hash: string }) | undefined> {
  await db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  return db
    .selectFrom('api_keys')
    .select([...PUBLIC_KEY_COLUMNS, 'key_hash'])
    .where('id', '=', id)
    .executeTakeFirst();
}

export interface KeyCredentialRow {
  id: string;
  tenant_id: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  rate_limits: TenantRateLimits;
}

/** The request-path lookup: key by hash, with its tenant's rate-limit overrides. */
export async function findCredentialByHash(db: Db, keyHash: string): Promise<KeyCredentialRow | undefined> {
  return db
    .selectFrom('api_keys')
    .innerJoin('tenants', 'tenants.id', 'api_keys.tenant_id')
    .select(['api_keys.id', 'api_keys.tenant_id', 'api_keys.scopes', 'api_keys.expires_at', 'api_keys.revoked_at', 'tenants.rate_limits'])
    .where('api_keys.key_hash', '=', keyHash)
    .executeTakeFirst();
}

/** Hashes of a tenant's live keys, for invalidating caches when the tenant's limits change. */
export async function activeKeyHashesOfTenant(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db.selectFrom('api_keys').select('key_hash').where('tenant_id', '=', tenantId).where('revoked_at', 'is', null).execute();
  return rows.map((r) => r.key_hash);
}
