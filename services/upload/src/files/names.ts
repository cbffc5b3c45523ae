/**
 * Client filenames are metadata only: they never reach a path. Still, we keep them tidy so a
 * name shown or offered for download can't smuggle separators, control or bidi characters.
 */
const MAX_NAME_BYTES = 255;
const MAX_EXTENSION_CHARS = 16;

// C0/C1 controls, DEL, and Unicode bidi overrides/isolates (used to disguise "gpj.exe" as "exe.jpg").
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

function truncateUtf8(value: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of value) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
  }
  return out;
}

export function sanitizeFilename(raw: string | undefined | null): string {
  let name = (raw ?? '').normalize('NFC').replace(UNSAFE_CHARACTERS, '');
  // Keep only the last path segment, whichever separator the client's OS used.
  const segments = name.split(/[/\\]/);
  name = segments[segments.length - 1] ?? '';
  // No hidden files, no "..", no trailing dots or spaces (Windows strips them).
  name = name
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+/, '')
    .replace(/[\s.]+$/, '');
  if (name === '') return 'unnamed';
  if (Buffer.byteLength(name, 'utf8') <= MAX_NAME_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && name.length - dot - 1 <= MAX_EXTENSION_CHARS ? name.slice(dot) : '';
  const stem = extension ? name.slice(0, dot) : name;
  return truncateUtf8(stem, MAX_NAME_BYTES - Buffer.byteLength(extension, 'utf8')).replace(/[\s.]+$/, '') + extension;
}

/** Lower-case extension without the dot, or undefined. */
export function extensionOf(filename: string): string | undefined {
  const dot = filename.lastIndexOf('.');
  if (dot <= 0 || dot === filename.length - 1) return undefined;
  return filename.slice(dot + 1).toLowerCase();
}

/** RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name. */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
