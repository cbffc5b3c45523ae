/** The ledger's own accounts, created by the first migration. */
export const SYSTEM_ACCOUNTS = {
  /** Where top-ups come from: its balance is minus everything ever topped up. */
  topUpSource: 'sys_top_up_source',
  /** Where charges and captured holds go. */
  revenue: 'sys_revenue',
} as const;

/**
 * Number of shard rows per system account. A system account's balance is the sum of its shards,
 * so any shard is correct for any posting; spreading postings over them is what keeps every
 * tenant's commit from queueing on one hot row. Charges and top-ups pick by tenant id, captures
 * by hold id.
 */
export const SYSTEM_BALANCE_SHARDS = 16;

/** FNV-1a of an id, folded into a shard number. */
export function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SYSTEM_BALANCE_SHARDS;
}
