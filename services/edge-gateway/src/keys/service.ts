import {
  AppError,
  type Clock,
  decodeTimeCursor,
  type IdGenerator,
  type KeyBudgetPolicy,
  type Logger,
  type Page,
  toTimePage,
} from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { KeyScope } from '../config';
import type { GatewayDb } from '../db';
import { findTenant } from '../tenants/repository';
import { generateKey } from './format';
import type { InvalidationBus } from './invalidation';
import { appendAudit, type AuditActor, diff } from '../audit/repository';
import { findKey, insertKey, listKeys, type PublicApiKeyRow, revokeKey, rotateKeySecret, updateKeyPolicy } from './repository';
import type { CreateKeyInput, RotateKeyInput, UpdateKeyInput } from './schemas';

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
  /** Model aliases this key may use; null: every model its tenant may use. */
  allowed_models: string[] | null;
  /** This key's rate-limit tiers, over its tenant's. */
  rate_limits: Record<string, number>;
  tokens_per_minute: number | null;
  /** Spending per period (micro-credits), reserved with each call's hold; null: no budget. */
  budget: KeyBudgetPolicy | null;
  /** After a rotation: when the replaced secret stops working. */
  previous_key_expires_at: string | null;
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
  allowed_models: row.allowed_models,
  rate_limits: row.rate_limits,
  tokens_per_minute: row.tokens_per_minute,
  budget: row.budget,
  previous_key_expires_at: row.previous_key_expires_at?.toISOString() ?? null,
});

/** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
export async function createKey(
  deps: KeyDeps,
  who: AuditActor,
  tenantId: string,
  input: CreateKeyInput,
): Promise<KeyView & { key: string }> {
  const now = deps.clock.now();
  const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new AppError('VALIDATION_FAILED', 'expires_at must be in the future', { details: { param: 'expires_at' } });
  }
  const tenant = await findTenant(deps.db, tenantId);
  if (!tenant) throw new AppError('NOT_FOUND', 'Tenant not found');
  const generated = generateKey();
  const row = await deps.db.transaction().execute(async (trx) => {
    const created = await insertKey(trx, {
      id: deps.ids.next('key'),
      tenant_id: tenantId,
      name: input.name ?? null,
      prefix: generated.prefix,
      key_hash: generated.hash,
      scopes: [...(input.scopes ?? deps.defaultScopes)],
      expires_at: expiresAt,
      revoked_at: null,
      created_at: now,
      allowed_models: null,
      tokens_per_minute: null,
      budget: null,
      previous_key_hash: null,
      previous_key_expires_at: null,
    });
    await appendAudit(
      trx,
      who,
      {
        action: 'key.create',
        target: `key:${created.id}`,
        tenantId,
        changes: { name: created.name, scopes: created.scopes, expires_at: created.expires_at?.toISOString() ?? null },
      },
      now,
    );
    return created;
  });
  return { ...toKeyView(row), key: generated.key };
}

export async function pageKeys(deps: KeyDeps, tenantId: string, limit: number, cursor: string | undefined): Promise<Page<KeyView>> {
  const tenant = await findTenant(deps.db, tenantId);
  if (!tenant) throw new AppError('NOT_FOUND', 'Tenant not found');
  const rows = await listKeys(deps.db, tenantId, limit, cursor ? decodeTimeCursor(cursor) : undefined);
  return toTimePage(rows, limit, toKeyView);
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
export async function revoke(deps: KeyDeps, who: AuditActor, id: string): Promise<KeyView> {
  const now = deps.clock.now();
  const row = await deps.db.transaction().execute(async (trx) => {
    const revoked = await revokeKey(trx, id, now);
    // Revoking twice is one action: the second changes nothing and is not recorded again.
    if (revoked?.newly)
      await appendAudit(
        trx,
        who,
        { action: 'key.revoke', target: `key:${id}`, tenantId: revoked.tenant_id, changes: { revoked_at: now.toISOString() } },
        now,
      );
    return revoked;
  });
  if (!row) throw new AppError('NOT_FOUND', 'API key not found');
  const { key_hash: hash, previous_key_hash: previous, newly: _newly, ...visible } = row;
  // Both secrets die: the current one and, during a rotation's grace, the replaced one.
  await announce(deps, previous ? [hash, previous] : [hash], 'a key revocation');
  return toKeyView(visible);
}

async function announce(deps: KeyDeps, hashes: string[], what: string): Promise<void> {
  await Promise.all(
    hashes.map((hash) =>
      deps.bus
        .publish({ type: 'key', hash })
        .catch((err: unknown) => deps.logger.error(`could not announce ${what}; replicas see it within the cache TTL`, { err })),
    ),
  );
}

const POLICY_FIELDS = ['name', 'scopes', 'allowed_models', 'rate_limits', 'tokens_per_minute', 'budget', 'expires_at'] as const;

/** Changes a key's policy; every replica re-reads it at once (its cached entries are evicted). */
export async function changeKey(deps: KeyDeps, who: AuditActor, id: string, input: UpdateKeyInput): Promise<KeyView> {
  const now = deps.clock.now();
  const expiresAt = input.expires_at === undefined ? undefined : input.expires_at === null ? null : new Date(input.expires_at);
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new AppError('VALIDATION_FAILED', 'expires_at must be in the future', { details: { param: 'expires_at' } });
  }
  const result = await deps.db.transaction().execute(async (trx) => {
    const changed = await updateKeyPolicy(trx, id, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.scopes !== undefined ? { scopes: input.scopes } : {}),
      ...(input.allowed_models !== undefined ? { allowed_models: input.allowed_models } : {}),
      ...(input.rate_limits !== undefined ? { rate_limits: input.rate_limits } : {}),
      ...(input.tokens_per_minute !== undefined ? { tokens_per_minute: input.tokens_per_minute } : {}),
      ...(input.budget !== undefined ? { budget: input.budget } : {}),
      ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
    });
    if (!changed) return undefined;
    if (changed.before.revoked_at) throw new AppError('CONFLICT', 'A revoked key cannot be changed', { details: { reason: 'revoked' } });
    await appendAudit(
      trx,
      who,
      {
        action: 'key.update',
        target: `key:${id}`,
        tenantId: changed.after.tenant_id,
        changes: diff(changed.before, changed.after, POLICY_FIELDS),
      },
      now,
    );
    return changed;
  });
  if (!result) throw new AppError('NOT_FOUND', 'API key not found');
  await announce(deps, result.hashes, 'a key change');
  return toKeyView(result.after);
}

/**
 * A new secret for the key, shown once. The replaced secret keeps working for `grace_s` seconds
 * (clients switch over without an outage); a secret replaced earlier and still in its grace dies now.
 */
export async function rotate(deps: KeyDeps, who: AuditActor, id: string, input: RotateKeyInput): Promise<KeyView & { key: string }> {
  const now = deps.clock.now();
  const generated = generateKey();
  const previousUntil = new Date(now.getTime() + input.grace_s * 1000);
  const result = await deps.db.transaction().execute(async (trx) => {
    const rotated = await rotateKeySecret(trx, id, { hash: generated.hash, prefix: generated.prefix }, previousUntil);
    if (rotated) {
      await appendAudit(
        trx,
        who,
        {
          action: 'key.rotate',
          target: `key:${id}`,
          tenantId: rotated.row.tenant_id,
          changes: { prefix: generated.prefix, previous_key_expires_at: previousUntil.toISOString() },
        },
        now,
      );
    }
    return rotated;
  });
  if (!result) throw new AppError('NOT_FOUND', 'API key not found');
  // Cached entries of the replaced secret(s) are re-read: with the grace end as their expiry, or gone.
  await announce(deps, result.hashes, 'a key rotation');
  return { ...toKeyView(result.row), key: generated.key };
}
