import { type Kysely, sql } from 'kysely';

/**
 * A late charge (usage delivered above its hold) may leave a tenant owing, down to MAX_DEBT:
 * the available balance may go below zero. The conditional updates still refuse every ordinary
 * hold and charge while it is, so the row check keeps only a floor far below any MAX_DEBT.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table accounts drop constraint accounts_available_nonnegative`.execute(db);
  await sql`alter table accounts add constraint accounts_available_floor check (balance - held >= -1000000000000)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table accounts drop constraint accounts_available_floor`.execute(db);
  await sql`alter table accounts add constraint accounts_available_nonnegative check (balance - held >= 0)`.execute(db);
}
