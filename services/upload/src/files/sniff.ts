/**
 * Content type detection from magic bytes and, for text, from the bytes themselves.
 *
 * Why our own sniffer and not file-type: file-type@21 is ESM-only (jest's CommonJS module
 * system cannot load it, so tests would not exercise what production runs), and it does not
 * detect text formats at all — yet text is where HTML, SVG and scripts hide. The allow-lists are
 * short, so the signatures below cover every allowed type plus the dangerous ones we must name
 * in a 415 (executables, archives, markup).
 */

/** Bytes of the head we look at; enough for every signature and a fair text sample. */
export const SNIFF_BYTES = 4100;

export interface DetectedType {
  mime: string;
  /** Extensions (lower case, no dot) that agree with this content. */
  extensions: readonly string[];
  /** HTML, SVG, XML, scripts, executables: never rendered inline. */
  active: boolean;
  kind: 'binary' | 'text' | 'unknown';
}

interface Signature {
  mime: string;
  extensions: string[];
  active?: boolean;
  /** Bytes at `offset`; `null` matches any byte. */
  bytes: (number | null)[];
  offset?: number;
  /** A second pattern that must also match (e.g. RIFF....WEBP). */
  and?: { bytes: number[]; offset: number };
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

const SIGNATURES: Signature[] = [
  { mime: 'image/png', extensions: ['png'], bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { mime: 'image/jpeg', extensions: ['jpg', 'jpeg', 'jpe', 'jfif'], bytes: [0xff, 0xd8, 0xff] },
  { mime: 'image/gif', extensions: ['gif'], bytes: ascii('GIF87a') },
  { mime: 'image/gif', extensions: ['gif'], bytes: ascii('GIF89a') },
  { mime: 'image/webp', extensions: ['webp'], bytes: ascii('RIFF'), and: { bytes: ascii('WEBP'), offset: 8 } },
  { mime: 'audio/wav', extensions: ['wav'], bytes: ascii('RIFF'), and: { bytes: ascii('WAVE'), offset: 8 } },
  { mime: 'image/avif', extensions: ['avif'], bytes: ascii('ftypavif'), offset: 4 },
  { mime: 'image/heic', extensions: ['heic'], bytes: ascii('ftypheic'), offset: 4 },
  { mime: 'video/mp4', extensions: ['mp4', 'm4v', 'mov'], bytes: ascii('ftyp'), offset: 4 },
  { mime: 'image/tiff', extensions: ['tif', 'tiff'], bytes: [0x49, 0x49, 0x2a, 0x00] },
  { mime: 'image/tiff', extensions: ['tif', 'tiff'], bytes: [0x4d, 0x4d, 0x00, 0x2a] },
  { mime: 'application/pdf', extensions: ['pdf'], bytes: ascii('%PDF-') },
  { mime: 'application/zip', extensions: ['zip'], bytes: [0x50, 0x4b, 0x03, 0x04] },
  { mime: 'application/zip', extensions: ['zip'], bytes: [0x50, 0x4b, 0x05, 0x06] },
  { mime: 'application/gzip', extensions: ['gz', 'tgz'], bytes: [0x1f, 0x8b] },
  { mime: 'application/x-7z-compressed', extensions: ['7z'], bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  { mime: 'application/vnd.rar', extensions: ['rar'], bytes: ascii('Rar!\x1a\x07') },
  {
    mime: 'application/x-ole-storage',
    extensions: ['doc', 'xls', 'ppt', 'msi'],
    active: true,
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
  },
  { mime: 'application/vnd.sqlite3', extensions: ['sqlite', 'db'], bytes: ascii('SQLite format 3\0') },
  { mime: 'audio/mpeg', extensions: ['mp3'], bytes: ascii('ID3') },
  { mime: 'audio/ogg', extensions: ['ogg', 'oga'], bytes: ascii('OggS') },
  { mime: 'audio/flac', extensions: ['flac'], bytes: ascii('fLaC') },
  // Executables: named so the 415 says what was sent.
  { mime: 'application/x-elf', extensions: ['elf', 'so', 'bin'], active: true, bytes: [0x7f, 0x45, 0x4c, 0x46] },
  { mime: 'application/x-msdownload', extensions: ['exe', 'dll', 'sys', 'com'], active: true, bytes: ascii('MZ') },
  { mime: 'application/x-mach-binary', extensions: ['macho', 'dylib'], active: true, bytes: [0xfe, 0xed, 0xfa, 0xce] },
  { mime: 'application/x-mach-binary', extensions: ['macho', 'dylib'], active: true, bytes: [0xfe, 0xed, 0xfa, 0xcf] },
  { mime: 'application/x-mach-binary', extensions: ['macho', 'dylib'], active: true, bytes: [0xce, 0xfa, 0xed, 0xfe] },
  { mime: 'application/x-mach-binary', extensions: ['macho', 'dylib'], active: true, bytes: [0xcf, 0xfa, 0xed, 0xfe] },
  { mime: 'application/java-vm', extensions: ['class'], active: true, bytes: [0xca, 0xfe, 0xba, 0xbe] },
  { mime: 'application/wasm', extensions: ['wasm'], active: true, bytes: [0x00, 0x61, 0x73, 0x6d] },
];

const matchesAt = (head: Uint8Array, bytes: readonly (number | null)[], offset: number): boolean =>
  head.length >= offset + bytes.length && bytes.every((b, i) => b === null || head[offset + i] === b);

export const OCTET_STREAM: DetectedType = { mime: 'application/octet-stream', extensions: [], active: false, kind: 'unknown' };
const HTML: DetectedType = { mime: 'text/html', extensions: ['html', 'htm', 'xhtml'], active: true, kind: 'text' };
const SVG: DetectedType = { mime: 'image/svg+xml', extensions: ['svg'], active: true, kind: 'text' };
const XML: DetectedType = { mime: 'application/xml', extensions: ['xml'], active: true, kind: 'text' };
const SCRIPT: DetectedType = { mime: 'text/x-shellscript', extensions: ['sh', 'bash', 'py', 'pl', 'rb'], active: true, kind: 'text' };
const PLAIN_TEXT: DetectedType = { mime: 'text/plain', extensions: ['txt', 'text', 'log'], active: false, kind: 'text' };

/** The tags WHATWG MIME sniffing treats as "this is HTML" when they open a document. */
const HTML_OPENERS = [
  '<!doctype html',
  '<html',
  '<head',
  '<script',
  '<iframe',
  '<h1',
  '<div',
  '<font',
  '<table',
  '<a',
  '<style',
  '<title',
  '<b',
  '<body',
  '<br',
  '<p',
  '<!--',
];
/** Markup that makes text active wherever it appears near the start (old browsers sniffed the first bytes). */
const ACTIVE_ANYWHERE = /<(?:script|html|svg|iframe|object|embed|!doctype\s+html)[\s>/]/i;

/** Valid UTF-8 with no NUL and no control characters other than tab, newlines, form feed and escape. */
function looksLikeUtf8Text(head: Uint8Array, truncated: boolean): boolean {
  let i = 0;
  while (i < head.length) {
    const b = head[i]!;
    if (b < 0x80) {
      if (b === 0 || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) || b === 0x7f) return false;
      i += 1;
      continue;
    }
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return false;
    if (i + need >= head.length) {
      // A sequence cut by the end of the sample is fine; cut by the end of the file it is not.
      if (!truncated) return false;
      return head.subarray(i + 1).every((c) => (c & 0xc0) === 0x80);
    }
    for (let k = 1; k <= need; k += 1) if ((head[i + k]! & 0xc0) !== 0x80) return false;
    i += need + 1;
  }
  return true;
}

/**
 * What the content is. `head` is the first SNIFF_BYTES bytes (or the whole file when shorter);
 * `truncated` says whether the file goes on past the head.
 */
export function detectType(head: Uint8Array, truncated: boolean): DetectedType {
  for (const sig of SIGNATURES) {
    if (matchesAt(head, sig.bytes, sig.offset ?? 0) && (!sig.and || matchesAt(head, sig.and.bytes, sig.and.offset))) {
      return { mime: sig.mime, extensions: sig.extensions, active: sig.active ?? false, kind: 'binary' };
    }
  }
  let body = head;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
  if (body.length === 0 || !looksLikeUtf8Text(body, truncated)) return OCTET_STREAM;

  const text = Buffer.from(body).toString('utf8');
  const start = text.trimStart().slice(0, 256).toLowerCase();
  if (start.startsWith('#!')) return SCRIPT;
  if (start.startsWith('<?xml')) return /<svg[\s>]/i.test(text) ? SVG : XML;
  if (start.startsWith('<svg')) return SVG;
  for (const opener of HTML_OPENERS) {
    if (start.startsWith(opener)) {
      const next = start.charAt(opener.length);
      if (next === '' || ' >/\t\n\r\f'.includes(next)) {
        return /<svg[\s>]/i.test(start) && !/<html/i.test(start) ? SVG : HTML;
      }
    }
  }
  if (ACTIVE_ANYWHERE.test(text.slice(0, 1024))) return /^\s*<svg/i.test(text) ? SVG : HTML;
  return PLAIN_TEXT;
}

/** Text formats told apart by extension once the content is known to be inert text. */
const TEXT_BY_EXTENSION: Record<string, { mime: string; accepts?: (text: string) => boolean }> = {
  txt: { mime: 'text/plain' },
  text: { mime: 'text/plain' },
  log: { mime: 'text/plain' },
  md: { mime: 'text/markdown' },
  markdown: { mime: 'text/markdown' },
  csv: { mime: 'text/csv' },
  json: { mime: 'application/json', accepts: (text) => /^\s*[[{]/.test(text) },
};

export interface ResolvedType {
  /** The type we store and serve. */
  mime: string;
  active: boolean;
  /** What the content itself says (for error details). */
  detected: string;
  /** Whether the filename's extension agrees with the content. */
  extensionAgrees: boolean;
  expectedExtensions: readonly string[];
}

/**
 * Combine the detected content with the filename's extension. Inert text becomes plain text,
 * Markdown, CSV or JSON by extension; anything else keeps its detected type and the extension
 * must be one of that type's. No extension never disagrees.
 */
export function resolveType(detected: DetectedType, extension: string | undefined, head: Uint8Array): ResolvedType {
  if (detected.kind === 'text' && !detected.active && detected.mime === 'text/plain') {
    const expected = Object.keys(TEXT_BY_EXTENSION);
    if (extension === undefined)
      return { mime: 'text/plain', active: false, detected: detected.mime, extensionAgrees: true, expectedExtensions: expected };
    const entry = TEXT_BY_EXTENSION[extension];
    if (!entry) return { mime: 'text/plain', active: false, detected: detected.mime, extensionAgrees: false, expectedExtensions: expected };
    const agrees = entry.accepts ? entry.accepts(Buffer.from(head).toString('utf8')) : true;
    return {
      mime: agrees ? entry.mime : 'text/plain',
      active: false,
      detected: agrees ? entry.mime : detected.mime,
      extensionAgrees: agrees,
      expectedExtensions: expected,
    };
  }
  const agrees = extension === undefined || detected.extensions.includes(extension);
  return {
    mime: detected.mime,
    active: detected.active,
    detected: detected.mime,
    extensionAgrees: agrees,
    expectedExtensions: detected.extensions,
  };
}
