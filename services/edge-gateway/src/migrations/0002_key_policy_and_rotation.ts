import { type Kysely, sql } from 'kysely';

/**
 * A key's own policy — model allow-list (null: every model), rate-limit tiers over its tenant's,
 * tokens per minute — and rotation: the replaced secret's hash keeps working until
 * previous_key_expires_at. Both hashes are unique across every key, so a lookup finds one key.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table api_keys add column allowed_models text[]`.execute(db);
  await sql`alter table api_keys add column rate_limits jsonb not null default '{}'::jsonb`.execute(db);
  await sql`alter table api_keys add column tokens_per_minute integer`.execute(db);
  await sql`alter table api_keys add column previous_key_hash text`.execute(db);
  await sql`alter table api_keys add column previous_key_expires_at timestamptz`.execute(db);
  await sql`alter table api_keys add constraint api_keys_rate_limits_object check (jsonb_typeof(rate_limits) = 'object')`.execute(db);
  await sql`alter table api_keys add constraint api_keys_tpm_positive check (tokens_per_minute is null or tokens_per_minute > 0)`.execute(
    db,
  );
  await sql`alter table api_keys add constraint api_keys_previous_hash_format check (previous_key_hash is null or previous_key_hash ~ '^[0-9a-f]{64}$')`.execute(
    db,
  );
  await sql`create unique index api_keys_previous_hash on api_keys (previous_key_hash) where previous_key_hash is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index api_keys_previous_hash`.execute(db);
  for (const c of ['api_keys_previous_hash_format', 'api_keys_tpm_positive', 'api_keys_rate_limits_object'])
    await sql`alter table api_keys drop constraint ${sql.raw(c)}`.execute(db);
  for (const c of ['previous_key_expires_at', 'previous_key_hash', 'tokens_per_minute', 'rate_limits', 'allowed_models'])
    await sql`alter table api_keys drop column ${sql.raw(c)}`.execute(db);
}
