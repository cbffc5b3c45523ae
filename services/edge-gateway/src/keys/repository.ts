import { AppError, newestFirstPage, type KeyBudgetPolicy, type TimeCursor } from '@tollgate/common';
import type { ApiKeyRow, Db, NewApiKeyRow, TenantRateLimits } from '../db';

/** What lists and responses show: never key_hash. */
const PUBLIC_KEY_COLUMNS = [
  'id',
  'tenant_id',
  'name',
  'prefix',
  'scopes',
  'expires_at',
  'revoked_at',
  'created_at',
  'allowed_models',
  'rate_limits',
  'tokens_per_minute',
  'budget',
  'previous_key_expires_at',
] as const;
export type PublicApiKeyRow = Pick<ApiKeyRow, (typeof PUBLIC_KEY_COLUMNS)[number]>;

export async function insertKey(db: Db, row: NewApiKeyRow): Promise<PublicApiKeyRow> {
  return db.insertInto('api_keys').values(row).returning(PUBLIC_KEY_COLUMNS).executeTakeFirstOrThrow();
}

export async function findKey(db: Db, id: string): Promise<PublicApiKeyRow | undefined> {
  return db.selectFrom('api_keys').select(PUBLIC_KEY_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function listKeys(db: Db, tenantId: string, limit: number, after?: TimeCursor): Promise<PublicApiKeyRow[]> {
  return newestFirstPage(db.selectFrom('api_keys').select(PUBLIC_KEY_COLUMNS).where('tenant_id', '=', tenantId), after, limit).execute();
}

/** Sets revoked_at once; returns the row with both hashes (current and, during a rotation, the replaced one) so replicas can drop them from their caches. */
export async function revokeKey(
  db: Db,
  id: string,
  now: Date,
): Promise<(PublicApiKeyRow & { key_hash: string; previous_key_hash: string | null; newly: boolean }) | undefined> {
  const changed = await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  const row = await db
    .selectFrom('api_keys')
    .select([...PUBLIC_KEY_COLUMNS, 'key_hash', 'previous_key_hash'])
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? { ...row, newly: Number(changed.numUpdatedRows) > 0 } : undefined;
}

export interface KeyCredentialRow {
  id: string;
  tenant_id: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  rate_limits: TenantRateLimits;
  key_rate_limits: TenantRateLimits;
  allowed_models: string[] | null;
  tokens_per_minute: number | null;
  budget: KeyBudgetPolicy | null;
  /** Set when the hash is the key's replaced secret: it works until then (the rotation's grace). */
  previous_until: Date | null;
}

/** The request-path lookup: key by its hash (or by its replaced secret's, during a rotation's grace), with its tenant's rate-limit overrides. */
export async function findCredentialByHash(db: Db, keyHash: string): Promise<KeyCredentialRow | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .innerJoin('tenants', 'tenants.id', 'api_keys.tenant_id')
    .select([
      'api_keys.id',
      'api_keys.tenant_id',
      'api_keys.scopes',
      'api_keys.expires_at',
      'api_keys.revoked_at',
      'tenants.rate_limits',
      'api_keys.rate_limits as key_rate_limits',
      'api_keys.allowed_models',
      'api_keys.tokens_per_minute',
      'api_keys.budget',
      'api_keys.key_hash',
      'api_keys.previous_key_expires_at',
    ])
    .where((eb) => eb.or([eb('api_keys.key_hash', '=', keyHash), eb('api_keys.previous_key_hash', '=', keyHash)]))
    .executeTakeFirst();
  if (!row) return undefined;
  const { key_hash: current, previous_key_expires_at: previousUntil, ...rest } = row;
  return { ...rest, previous_until: current === keyHash ? null : (previousUntil ?? new Date(0)) };
}

export interface KeyPolicyUpdate {
  name?: string | null;
  scopes?: string[];
  allowed_models?: string[] | null;
  rate_limits?: TenantRateLimits;
  tokens_per_minute?: number | null;
  budget?: KeyBudgetPolicy | null;
  expires_at?: Date | null;
}

/** Changes a live key's policy; returns the row before and after (with both hashes, to evict them from caches). */
export async function updateKeyPolicy(
  db: Db,
  id: string,
  change: KeyPolicyUpdate,
): Promise<{ before: PublicApiKeyRow; after: PublicApiKeyRow; hashes: string[] } | undefined> {
  const before = await db
    .selectFrom('api_keys')
    .select([...PUBLIC_KEY_COLUMNS, 'key_hash', 'previous_key_hash'])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!before) return undefined;
  const { rate_limits: rateLimits, budget, ...plain } = change;
  const after = await db
    .updateTable('api_keys')
    .set({
      ...plain,
      ...(rateLimits !== undefined ? { rate_limits: JSON.stringify(rateLimits) } : {}),
      ...(budget !== undefined ? { budget: budget === null ? null : JSON.stringify(budget) } : {}),
    })
    .where('id', '=', id)
    .returning(PUBLIC_KEY_COLUMNS)
    .executeTakeFirstOrThrow();
  const { key_hash: hash, previous_key_hash: previous, ...visible } = before;
  return { before: visible, after, hashes: previous ? [hash, previous] : [hash] };
}

/** Swaps in a new secret; the replaced one is accepted until `previousUntil` (the one replaced before it dies now). */
export async function rotateKeySecret(
  db: Db,
  id: string,
  secret: { hash: string; prefix: string },
  previousUntil: Date,
): Promise<{ row: PublicApiKeyRow; hashes: string[] } | undefined> {
  const before = await db
    .selectFrom('api_keys')
    .select(['key_hash', 'previous_key_hash', 'revoked_at'])
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!before) return undefined;
  if (before.revoked_at) throw new AppError('CONFLICT', 'A revoked key cannot be rotated', { details: { reason: 'revoked' } });
  const row = await db
    .updateTable('api_keys')
    .set({ key_hash: secret.hash, prefix: secret.prefix, previous_key_hash: before.key_hash, previous_key_expires_at: previousUntil })
    .where('id', '=', id)
    .returning(PUBLIC_KEY_COLUMNS)
    .executeTakeFirstOrThrow();
  return { row, hashes: before.previous_key_hash ? [before.key_hash, before.previous_key_hash] : [before.key_hash] };
}

/** Hashes of a tenant's live keys, for invalidating caches when the tenant's limits change. */
export async function activeKeyHashesOfTenant(db: Db, tenantId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select('key_hash')
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .execute();
  return rows.map((r) => r.key_hash);
}
