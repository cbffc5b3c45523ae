import { AppError, type Clock, type IdGenerator, type Logger, type Page, toTimePage, decodeTimeCursor } from '@tollgate/common';
import type { Kysely } from 'kysely';
import type { GatewayDb, TenantRow } from '../db';
import { appendAudit, type AuditActor, diff } from '../audit/repository';
import type { InvalidationBus } from '../keys/invalidation';
import { findTenant, insertTenant, listTenants, updateTenant } from './repository';
import type { CreateTenantInput, UpdateTenantInput } from './schemas';

export interface TenantDeps {
  db: Kysely<GatewayDb>;
  clock: Clock;
  ids: IdGenerator;
  bus: InvalidationBus;
  logger: Logger;
}

export interface TenantView {
  id: string;
  object: 'tenant';
  name: string;
  rate_limits: TenantRow['rate_limits'];
  created_at: string;
  updated_at: string;
}

export const toTenantView = (row: TenantRow): TenantView => ({
  id: row.id,
  object: 'tenant',
  name: row.name,
  rate_limits: row.rate_limits,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export async function createTenant(deps: TenantDeps, who: AuditActor, input: CreateTenantInput): Promise<TenantView> {
  const now = deps.clock.now();
  const row = await deps.db.transaction().execute(async (trx) => {
    const created = await insertTenant(trx, {
      id: deps.ids.next('ten'),
      name: input.name,
      rate_limits: JSON.stringify(input.rate_limits ?? {}),
      created_at: now,
      updated_at: now,
    });
    await appendAudit(
      trx,
      who,
      {
        action: 'tenant.create',
        target: `tenant:${created.id}`,
        tenantId: created.id,
        changes: { name: created.name, rate_limits: created.rate_limits },
      },
      now,
    );
    return created;
  });
  return toTenantView(row);
}

export async function getTenant(deps: TenantDeps, id: string): Promise<TenantView> {
  const row = await findTenant(deps.db, id);
  if (!row) throw new AppError('NOT_FOUND', 'Tenant not found');
  return toTenantView(row);
}

export async function pageTenants(deps: TenantDeps, limit: number, cursor: string | undefined): Promise<Page<TenantView>> {
  const rows = await listTenants(deps.db, limit, cursor ? decodeTimeCursor(cursor) : undefined);
  return toTimePage(rows, limit, toTenantView);
}

/** Changing a tenant's limits takes effect on every replica at once (cache invalidation). */
export async function changeTenant(deps: TenantDeps, who: AuditActor, id: string, input: UpdateTenantInput): Promise<TenantView> {
  const now = deps.clock.now();
  const row = await deps.db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('tenants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!before) return undefined;
    const after = await updateTenant(
      trx,
      id,
      {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.rate_limits !== undefined ? { rateLimits: input.rate_limits } : {}),
      },
      now,
    );
    if (after) {
      await appendAudit(
        trx,
        who,
        { action: 'tenant.update', target: `tenant:${id}`, tenantId: id, changes: diff(before, after, ['name', 'rate_limits']) },
        now,
      );
    }
    return after;
  });
  if (!row) throw new AppError('NOT_FOUND', 'Tenant not found');
  await deps.bus
    .publish({ type: 'tenant', id })
    .catch((err: unknown) => deps.logger.error('could not announce a tenant change; replicas see it within the cache TTL', { err }));
  return toTenantView(row);
}
