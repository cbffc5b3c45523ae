import { type Kysely, sql } from 'kysely';

/** Millisecond precision: list cursors carry JS Dates, which would miss rows differing in microseconds. */
const MS_TIMESTAMP = sql`timestamptz(3)`;

const STATUSES = [
  'queued',
  'generating',
  'processing',
  'pending_review',
  'approved',
  'rejected',
  'publishing',
  'published',
  'publish_failed',
  'failed',
];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('generation_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull().check(sql`n between 1 and 100`))
    .addColumn('seed', 'bigint', (c) => c.notNull())
    .addColumn('dedup_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'failed')`))
    .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('generation_jobs_dedup_idx')
    .on('generation_jobs')
    .columns(['tenant_id', 'dedup_key', 'created_at'])
    .execute();

  await db.schema
    .createTable('images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('generation', 'upload')`))
    .addColumn('job_id', 'text', (c) => c.references('generation_jobs.id').onDelete('set null'))
    .addColumn('job_index', 'integer')
    .addColumn('file_id', 'text')
    .addColumn('prompt', 'text')
    .addColumn('model', 'text')
    .addColumn('seed', 'bigint')
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('requested_width', 'integer')
    .addColumn('requested_height', 'integer')
    .addColumn('status', 'text', (c) => c.notNull().check(sql.raw(`status in (${STATUSES.map((s) => `'${s}'`).join(', ')})`)))
    .addColumn('failure_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('quality', 'jsonb')
    .addColumn('variants', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('charge_amount', 'bigint', (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`charge_amount >= 0`),
    )
    .addColumn('hold_id', 'text')
    .addColumn('charge_status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('none')
        .check(sql`charge_status in ('none', 'held', 'captured', 'released')`),
    )
    .addColumn('rejection_reason', 'text')
    .addColumn('publish_attempt', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('publication', 'jsonb')
    .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The review queue and the list: newest first, per tenant, optionally by status.
  await db.schema.createIndex('images_tenant_created_idx').on('images').columns(['tenant_id', 'created_at desc', 'id desc']).execute();
  await db.schema
    .createIndex('images_tenant_status_created_idx')
    .on('images')
    .columns(['tenant_id', 'status', 'created_at desc', 'id desc'])
    .execute();
  await db.schema.createIndex('images_job_idx').on('images').column('job_id').execute();

  await db.schema
    .createTable('image_transitions')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('from_status', 'text')
    .addColumn('to_status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('image_transitions_image_idx').on('image_transitions').columns(['image_id', 'id']).execute();

  await db.schema
    .createTable('catalog_items')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('image_id', 'text', (c) => c.notNull().unique())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('storage_key', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('catalog_items_tenant_idx').on('catalog_items').columns(['tenant_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('catalog_items').execute();
  await db.schema.dropTable('image_transitions').execute();
  await db.schema.dropTable('images').execute();
  await db.schema.dropTable('generation_jobs').execute();
}
