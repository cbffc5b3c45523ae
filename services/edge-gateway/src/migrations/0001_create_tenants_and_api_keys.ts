import { type Kysely, sql } from 'kysely';

/**
 * Tenants and their API keys. A key is stored only as its SHA-256 (unique, the lookup path on
 * every request) plus a short visible prefix; revocation is a timestamp so the audit trail stays.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table tenants (
      id text primary key,
      name text not null,
      rate_limits jsonb not null default '{}'::jsonb,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      constraint tenants_id_format check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
      constraint tenants_name_length check (char_length(name) between 1 and 200),
      constraint tenants_rate_limits_object check (jsonb_typeof(rate_limits) = 'object')
    )`.execute(db);

  await sql`
    create table api_keys (
      id text primary key,
      tenant_id text not null references tenants (id) on delete cascade,
      name text,
      prefix text not null,
      key_hash text not null unique,
      scopes text[] not null,
      expires_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz not null,
      constraint api_keys_hash_format check (key_hash ~ '^[0-9a-f]{64}$'),
      constraint api_keys_name_length check (name is null or char_length(name) <= 200)
    )`.execute(db);
  // Listing a tenant's keys, newest first, with a (created_at, id) cursor.
  await sql`create index api_keys_tenant_created on api_keys (tenant_id, created_at desc, id desc)`.execute(db);
  await sql`create index tenants_created on tenants (created_at desc, id desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists api_keys`.execute(db);
  await sql`drop table if exists tenants`.execute(db);
}
