import { AppError, type Clock, decodeCursor, type IdGenerator, type Logger, type Page, toPage } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { KeyScope } from '../config';
import type { GatewayDb } from '../db';
import { findTenant } from '../tenants/repository';
import { generateKey } from './format';
import type { InvalidationBus } from './invalidation';
import { findKey, insertKey, listKeys, type PublicApiKeyRow, revokeKey } from './repository';
import type { CreateKeyInput } from './schemas';

export interface KeyDeps {
  db: Kysely<GatewayDb>;
  clock: Clock;
  ids: IdGenerator;
  bus: InvalidationBus;
  logger: Logger;
  defaultScopes: readonly KeyScope[];
}

export interface KeyView {
  id: string;
  object: 'api_key';
  tenant_id: string;
  name: string | null;
  /** The first characters of the key, to tell keys apart; the key itself is shown only once. */
  prefix: string;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export const toKeyView = (row: PublicApiKeyRow): KeyView => ({
  id: row.id,
  object: 'api_key',
  tenant_id: row.tenant_id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  expires_at: row.expires_at?.toISOString() ?? null,
  revoked_at: row.revoked_at?.toISOString() ?? null,
  created_at: row.created_at.toISOString(),
});

/** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
export async function createKey(deps: KeyDeps, tenantId: string, input: CreateKeyInput): Promise<KeyView & { key: string }> {
  const now = deps.clock.now();
  const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new AppError('VALIDATION_FAILED', 'expires_at must be in the future', { details: { param: 'expires_at' } });
  }
  const tenant = await findTenant(deps.db, tenantId);
  if (!tenant) throw new AppError('NOT_FOUND', 'Tenant not found');
  const generated = generateKey();
  const row = await insertKey(deps.db, {
    id: deps.ids.next('key'),
    tenant_id: tenantId,
    name: input.name ?? null,
    prefix: generated.prefix,
    key_hash: generated.hash,
    scopes: [...(input.scopes ?? deps.defaultScopes)],
    expires_at: expiresAt,
    revoked_at: null,
    created_at: now,
  });
  return { ...toKeyView(row), key: generated.key };
}

export async function pageKeys(deps: KeyDeps, tenantId: string, limit: number, cursor: string | undefined): Promise<Page<KeyView>> {
  const tenant = await findTenant(deps.db, tenantId);
  if (!tenant) throw new AppError('NOT_FOUND', 'Tenant not found');
  const after = cursor ? decodeCursor(cursor, 2) : undefined;
  const rows = await listKeys(deps.db, tenantId, limit + 1, after ? { createdAt: new Date(String(after[0])), id: String(after[1]) } : undefined);
  return toPage(rows, limit, toKeyView, (r) => [r.created_at.toISOString(), r.id]);
}

export async function getKey(deps: KeyDeps, id: string): Promise<KeyView> {
  const row = await findKey(deps.db, id);
  if (!row) throw new AppError('NOT_FOUND', 'API key not found');
  return toKeyView(row);
}

/**
 * Revokes a key (idempotent) and tells every replica to drop it from its cache. If the
 * announcement cannot be sent, replicas still stop accepting it within the cache TTL.
 */
export async function revoke(deps: KeyDeps, id: string): Promise<KeyView> {
  const row = await revokeKey(deps.db, id, deps.clock.now());
  if (!row) throw new AppError('NOT_FOUND', 'API key not found');
  const { key_hash: hash, ...visible } = row;
  await deps.bus.publish({ type: 'key', hash }).catch((err: unknown) => deps.logger.error('could not announce a key revocation; replicas see it within the cache TTL', { err }));
  return toKeyView(visible);
}
