import { type Kysely, sql } from 'kysely';

/**
 * Every admin action, append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so not even
 * the service's own code (or a mistaken migration) can rewrite history.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table audit_log (
      id bigint generated always as identity primary key,
      at timestamptz not null,
      actor text not null,
      request_id text not null,
      action text not null,
      target text not null,
      tenant_id text,
      changes jsonb not null default '{}'::jsonb
    )`.execute(db);
  await sql`create index audit_log_target on audit_log (target, id desc)`.execute(db);
  await sql`create index audit_log_actor on audit_log (actor, id desc)`.execute(db);
  await sql`
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`create trigger audit_log_no_update before update or delete on audit_log for each row execute function audit_log_append_only()`.execute(
    db,
  );
  await sql`create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_append_only()`.execute(
    db,
  );
}

export async function down(): Promise<void> {
  // The audit log is never dropped by a rollback.
}
