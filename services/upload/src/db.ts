import type { OutboxEventsTable } from '@tollgate/common';
import type { ColumnType, Insertable, Kysely, Selectable, Transaction } from 'kysely';

export type FileStatus = 'ready' | 'deleted' | 'expired';

/** Committed files. A row exists only once its object is complete; `deleted`/`expired` rows await object removal. */
export interface FilesTable {
  id: string;
  tenant_id: string;
  filename: string;
  purpose: string;
  bytes: number;
  sha256: string;
  mime_type: string;
  storage_key: string;
  status: FileStatus;
  created_at: ColumnType<Date, Date | undefined, never>;
  expires_at: Date | null;
  removed_at: Date | null;
}

/** Stored bytes and files per tenant, in-flight reservations included; never above the quota. */
export interface TenantUsageTable {
  tenant_id: string;
  bytes: number;
  files: number;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type ReservationKind = 'multipart' | 'tus';

/** Quota held by an upload in flight; released on failure, settled into a file row on success. */
export interface UploadReservationsTable {
  id: string;
  tenant_id: string;
  kind: ReservationKind;
  bytes: number;
  files: number;
  created_at: ColumnType<Date, Date | undefined, never>;
  heartbeat_at: Date;
}

export interface TusUploadsTable {
  id: string;
  tenant_id: string;
  filename: string;
  purpose: string;
  expires_in_s: number | null;
  length: number;
  offset: number;
  /** The client's Upload-Metadata header, echoed on HEAD as the protocol asks. */
  metadata: string | null;
  /** Set once the first bytes passed the type check. */
  detected_mime: string | null;
  file_id: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
  expires_at: Date;
}

/** Events written in the same transaction as the change they announce, published after commit. */
export interface Database {
  files: FilesTable;
  tenant_usage: TenantUsageTable;
  upload_reservations: UploadReservationsTable;
  tus_uploads: TusUploadsTable;
  outbox_events: OutboxEventsTable;
}

export type Db = Kysely<Database>;
export type DbOrTx = Kysely<Database> | Transaction<Database>;
export type FileRow = Selectable<FilesTable>;
export type NewFileRow = Insertable<FilesTable>;
export type TusUploadRow = Selectable<TusUploadsTable>;
