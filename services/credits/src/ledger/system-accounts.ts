/** The ledger's own accounts, created by the first migration. */
export const SYSTEM_ACCOUNTS = {
  /** Where top-ups come from: its balance is minus everything ever topped up. */
  topUpSource: 'sys_top_up_source',
  /** Where charges and captured holds go. */
  revenue: 'sys_revenue',
} as const;

/**
 * Number of shard rows per system account. A tenant always posts to the same shard, so one
 * tenant's operations (already serialised on its own account row) never contend with another
 * tenant's on a single hot system row.
 */
export const SYSTEM_BALANCE_SHARDS = 16;

/** FNV-1a of the tenant id, folded into a shard number. */
export function shardOf(tenantId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tenantId.length; i++) {
    hash ^= tenantId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SYSTEM_BALANCE_SHARDS;
}
