import { fileTypeFromBuffer, type FileTypeResult } from 'file-type';

/**
 * Content type detection: binary formats by file-type (magic bytes, and for containers such as
 * ZIP, OLE, ftyp or PNG a look at their structure), and for text our own classifier below, which
 * file-type does not cover: HTML, SVG, XML, scripts and plain text, where active content hides.
 * The allow-lists per purpose are short; everything else is only named in the 415.
 */

/** Bytes of the head we look at; enough for file-type's signatures (its own sample size) and a fair text sample. */
export const SNIFF_BYTES = 4100;

export interface DetectedType {
  mime: string;
  /** Extensions (lower case, no dot) that agree with this content. */
  extensions: readonly string[];
  /** HTML, SVG, XML, scripts, executables: never rendered inline. */
  active: boolean;
  /** 'binary': a format file-type knows by its signature; 'text': text (our classifier's, or a text format file-type names). */
  kind: 'binary' | 'text' | 'unknown';
}

/** Extensions that agree with a type, where there is more than file-type's one. */
const EXTENSIONS: Record<string, readonly string[]> = {
  'image/jpeg': ['jpg', 'jpeg', 'jpe', 'jfif'],
  'image/tiff': ['tif', 'tiff'],
  'image/heic': ['heic', 'heif'],
  'video/mp4': ['mp4', 'm4v', 'mov'],
  'video/quicktime': ['mov', 'qt'],
  'application/gzip': ['gz', 'tgz'],
  'application/x-cfb': ['doc', 'xls', 'ppt', 'msi'],
  'application/x-sqlite3': ['sqlite', 'db'],
  'application/ogg': ['ogg', 'ogx'],
  'audio/ogg': ['ogg', 'oga'],
  'application/x-elf': ['elf', 'so', 'bin'],
  'application/x-msdownload': ['exe', 'dll', 'sys', 'com'],
  'application/x-mach-binary': ['macho', 'dylib'],
  'application/xml': ['xml'],
};

/** Detected types that carry code or markup: executables, macro-capable documents, installers, RTF, PostScript, XML. */
const ACTIVE_BINARY = new Set([
  'application/x-elf',
  'application/x-msdownload',
  'application/x-mach-binary',
  'application/java-vm',
  'application/java-archive',
  'application/wasm',
  'application/x-cfb',
  'application/vnd.android.package-archive',
  'application/x-shockwave-flash',
  'application/vnd.ms-htmlhelp',
  'application/x-ms-shortcut',
  'application/x-ms-regedit',
  'application/x-google-chrome-extension',
  'application/x-xpinstall',
  'application/x-deb',
  'application/x-rpm',
  'application/x-apple-diskimage',
  'application/x-iso9660-image',
  'application/rtf',
  'application/postscript',
  'application/eps',
  'application/xml',
]);

/**
 * Formats file-type knows whose files may be clean UTF-8 text throughout their head; trusted over
 * our classifier. (Its XML is not here: for text, our classifier tells SVG from XML.)
 */
const TEXT_FORMATS = new Set([
  'application/pdf',
  'application/rtf',
  'application/postscript',
  'application/eps',
  'application/x-ms-regedit',
  'application/pgp-encrypted',
  'model/stl',
]);

function fromFileType(result: FileTypeResult): DetectedType {
  const textual = TEXT_FORMATS.has(result.mime) || result.mime.startsWith('text/');
  return {
    mime: result.mime,
    extensions: EXTENSIONS[result.mime] ?? [result.ext],
    active: ACTIVE_BINARY.has(result.mime) || /macroenabled/i.test(result.mime),
    kind: textual ? 'text' : 'binary',
  };
}

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
 * Our text classifier: HTML, SVG, XML, scripts, plain text; anything else is octet-stream.
 * `truncated` says whether the file goes on past `head` (a UTF-8 sequence may be cut there).
 */
export function classifyText(head: Uint8Array, truncated: boolean): DetectedType {
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

/**
 * What the content is. `head` is the first SNIFF_BYTES bytes (or the whole file when shorter);
 * `truncated` says whether the file goes on past the head.
 *
 * Binary content is what file-type says it is (octet-stream when it knows nothing). Clean UTF-8
 * text goes to our classifier, unless file-type names one of the text formats it knows (PDF,
 * RTF, PostScript, …): a binary signature on clean text is a coincidence ("BMW…" is not a
 * bitmap, "GIFT…" not a GIF, "MZ…" not an executable), and file-type's XML is our XML or SVG.
 */
export async function detectType(head: Uint8Array, truncated: boolean): Promise<DetectedType> {
  const text = classifyText(head, truncated);
  let found: FileTypeResult | undefined;
  try {
    found = await fileTypeFromBuffer(head);
  } catch {
    // A malformed container that trips the parser is not a type we know.
    found = undefined;
  }
  if (!found) return text;
  if (text.kind === 'text' && !TEXT_FORMATS.has(found.mime) && !found.mime.startsWith('text/')) return text;
  return fromFileType(found);
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
