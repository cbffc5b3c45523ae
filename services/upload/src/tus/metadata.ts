import { validationFailed } from '@tollgate/common';

const MAX_METADATA_LENGTH = 4096;
const KEY = /^[\x21-\x7e]+$/;

/** Parse tus `Upload-Metadata`: comma-separated `key base64value` pairs (value optional). */
export function parseUploadMetadata(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined || header.trim() === '') return out;
  if (header.length > MAX_METADATA_LENGTH) throw validationFailed('Upload-Metadata is too long', { param: 'Upload-Metadata' });
  for (const pair of header.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || !KEY.test(key) || key.includes(',') || extra !== undefined)
      throw validationFailed('Upload-Metadata is malformed', { param: 'Upload-Metadata' });
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      throw validationFailed(`Upload-Metadata value of "${key}" is not base64`, { param: 'Upload-Metadata' });
    if (out.has(key)) throw validationFailed(`Upload-Metadata repeats "${key}"`, { param: 'Upload-Metadata' });
    out.set(key, value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8'));
  }
  return out;
}
