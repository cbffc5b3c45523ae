import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull().check(sql`bytes >= 0`))
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('mime_type', 'text', (c) => c.notNull())
    .addColumn('storage_key', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('ready')
        .check(sql`status in ('ready', 'deleted', 'expired')`),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('removed_at', 'timestamptz')
    .execute();
  await sql`create index files_tenant_list on files (tenant_id, created_at desc, id desc) where status = 'ready'`.execute(db);
  await sql`create index files_due_expiry on files (expires_at) where status = 'ready' and expires_at is not null`.execute(db);
  await sql`create index files_pending_removal on files (removed_at) where status <> 'ready'`.execute(db);

  await db.schema
    .createTable('tenant_usage')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('bytes', 'bigint', (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`bytes >= 0`),
    )
    .addColumn('files', 'integer', (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`files >= 0`),
    )
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('upload_reservations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('multipart', 'tus')`))
    .addColumn('bytes', 'bigint', (c) => c.notNull().check(sql`bytes >= 0`))
    .addColumn('files', 'integer', (c) => c.notNull().check(sql`files >= 0`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index upload_reservations_stale on upload_reservations (heartbeat_at) where kind = 'multipart'`.execute(db);

  await db.schema
    .createTable('tus_uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('expires_in_s', 'integer')
    .addColumn('length', 'bigint', (c) => c.notNull().check(sql`length > 0`))
    .addColumn('offset', 'bigint', (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`"offset" >= 0 and "offset" <= length`),
    )
    .addColumn('metadata', 'text')
    .addColumn('detected_mime', 'text')
    .addColumn('file_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tus_uploads_expiry').on('tus_uploads').column('expires_at').execute();

  await db.schema
    .createTable('event_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['event_outbox', 'tus_uploads', 'upload_reservations', 'tenant_usage', 'files']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
