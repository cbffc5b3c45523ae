import { type Kysely, sql } from 'kysely';

/**
 * A key's spending budget (issue 17): `{"amount": <micro-credits>, "period": "day"|"week"|"month"}`
 * or null. The gateway only stores it and puts it in the identity token; credits reserves it with
 * each call's hold, so concurrent calls never spend more.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table api_keys add column budget jsonb`.execute(db);
  await sql`
    alter table api_keys add constraint api_keys_budget_shape check (
      budget is null or (jsonb_typeof(budget->'amount') = 'number' and (budget->>'amount')::bigint > 0
                         and budget->>'period' in ('day', 'week', 'month')))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table api_keys drop constraint if exists api_keys_budget_shape`.execute(db);
  await sql`alter table api_keys drop column if exists budget`.execute(db);
}
