import type { Db, NewUsageRow, UsageRow } from '../db';

export const USAGE_COLUMNS = [
  'id',
  'tenant_id',
  'key_id',
  'request_id',
  'kind',
  'model',
  'target',
  'provider',
  'upstream_model',
  'stream',
  'cached',
  'prompt_tokens',
  'completion_tokens',
  'cost',
  'hold_id',
  'outcome',
  'error_code',
  'attempts',
  'latency_ms',
  'ttft_ms',
  'created_at',
  'tags',
  'user',
  'metadata',
] as const;

export async function insertUsageRows(db: Db, rows: NewUsageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('usage')
    .values(rows)
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function listUsageForTenant(db: Db, tenantId: string): Promise<UsageRow[]> {
  return db.selectFrom('usage').select(USAGE_COLUMNS).where('tenant_id', '=', tenantId).orderBy('created_at', 'asc').execute();
}
