import type { KeyBudgetPolicy } from '@tollgate/common';
import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';

/** Per-tenant overrides of the rate-limit tiers (requests per window). */
export type TenantRateLimits = Partial<Record<'completion' | 'generation' | 'write' | 'read', number>>;

export interface TenantsTable {
  id: string;
  name: string;
  rate_limits: ColumnType<TenantRateLimits, string, string>;
  created_at: ColumnType<Date, Date, never>;
  updated_at: ColumnType<Date, Date, Date>;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string | null;
  /** The first characters of the key, shown in lists so a user can tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key (hex); the key itself is never stored. */
  key_hash: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: ColumnType<Date | null, Date | null, Date>;
  created_at: ColumnType<Date, Date, never>;
  allowed_models: string[] | null;
  rate_limits: ColumnType<TenantRateLimits, string | undefined, string>;
  tokens_per_minute: number | null;
  /** Spending budget per period, or null (migration 0004). */
  budget: ColumnType<KeyBudgetPolicy | null, string | null | undefined, string | null>;
  previous_key_hash: string | null;
  previous_key_expires_at: Date | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Date;
  actor: string;
  request_id: string;
  action: string;
  target: string;
  tenant_id: string | null;
  changes: ColumnType<Record<string, unknown>, string, never>;
}

export interface GatewayDb {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
}

export type Db = Kysely<GatewayDb> | Transaction<GatewayDb>;

export type TenantRow = Selectable<TenantsTable>;
export type NewTenantRow = Insertable<TenantsTable>;
export type TenantUpdate = Updateable<TenantsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKeyRow = Insertable<ApiKeysTable>;
