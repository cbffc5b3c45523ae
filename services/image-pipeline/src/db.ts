import type { OutboxEventsTable } from '@tollgate/common';
import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { ImageStatus } from './images/states';
import type { QualityReport } from './processing/quality';

/** JSON columns are read as objects and written as JSON text (pg would turn arrays into PG arrays). */
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export type ImageFormat = 'png' | 'jpeg' | 'webp';
export type VariantName = 'original' | 'print' | 'thumb';

/** A file this service stored, as kept in `images.variants`. */
export interface StoredVariant {
  key: string;
  format: ImageFormat;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
  sha256: string;
  /** Pixel density written into the file's metadata, when there is one. */
  dpi?: number;
}

export type Variants = Partial<Record<VariantName, StoredVariant>>;

export type ChargeStatus = 'none' | 'held' | 'captured' | 'released';
export type ImageSource = 'generation' | 'upload';

export interface Publication {
  publisher: string;
  external_id: string;
  url: string | null;
  published_at: string;
}

export interface GenerationJobsTable {
  id: string;
  tenant_id: string;
  prompt: string;
  model: string;
  profile: string;
  width: number;
  height: number;
  n: number;
  seed: number;
  /** sha256 of the canonical request; identical requests inside the window are deduplicated. */
  dedup_key: string;
  status: 'active' | 'failed';
  created_at: CreatedAt;
}

export interface ImagesTable {
  id: string;
  tenant_id: string;
  source: ImageSource;
  job_id: string | null;
  job_index: number | null;
  file_id: string | null;
  prompt: string | null;
  model: string | null;
  seed: number | null;
  profile: string;
  requested_width: number | null;
  requested_height: number | null;
  status: ImageStatus;
  failure_code: string | null;
  failure_message: string | null;
  quality: NullableJson<QualityReport>;
  variants: Json<Variants>;
  charge_amount: number;
  hold_id: string | null;
  charge_status: ChargeStatus;
  rejection_reason: string | null;
  /** Incremented per publish action; part of the publish job id, so a re-publish is a new job. */
  publish_attempt: Generated<number>;
  publication: NullableJson<Publication>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ImageTransitionsTable {
  id: Generated<number>;
  image_id: string;
  tenant_id: string;
  from_status: ImageStatus | null;
  to_status: ImageStatus;
  reason: string | null;
  created_at: CreatedAt;
}

export interface CatalogItemsTable {
  id: string;
  tenant_id: string;
  image_id: string;
  profile: string;
  storage_key: string;
  width: number;
  height: number;
  bytes: number;
  created_at: CreatedAt;
}

export interface Database {
  generation_jobs: GenerationJobsTable;
  images: ImagesTable;
  image_transitions: ImageTransitionsTable;
  catalog_items: CatalogItemsTable;
  outbox_events: OutboxEventsTable;
}

export type Db = Kysely<Database>;
export type DbOrTx = Kysely<Database> | Transaction<Database>;

export type GenerationJobRow = Selectable<GenerationJobsTable>;
export type NewGenerationJob = Insertable<GenerationJobsTable>;
export type ImageRow = Selectable<ImagesTable>;
export type NewImage = Insertable<ImagesTable>;
export type ImageUpdate = Updateable<ImagesTable>;
export type CatalogItemRow = Selectable<CatalogItemsTable>;

export const json = (value: unknown): string => JSON.stringify(value);
