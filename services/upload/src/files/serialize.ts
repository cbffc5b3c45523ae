import type { FileRow } from '../db';

export interface FileObject {
  id: string;
  object: 'file';
  filename: string;
  purpose: string;
  bytes: number;
  sha256: string;
  mime_type: string;
  status: string;
  created_at: string;
  expires_at: string | null;
}

export function serializeFile(row: FileRow): FileObject {
  return {
    id: row.id,
    object: 'file',
    filename: row.filename,
    purpose: row.purpose,
    bytes: row.bytes,
    sha256: row.sha256,
    mime_type: row.mime_type,
    status: row.status,
    created_at: new Date(row.created_at).toISOString(),
    expires_at: row.expires_at ? new Date(row.expires_at).toISOString() : null,
  };
}
