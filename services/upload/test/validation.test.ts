import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import request from 'supertest';
import { contentDisposition, sanitizeFilename } from '../src/files/names';
import { detectType } from '../src/files/sniff';
import { auth, filesUnder, type Harness, multipartBody, pdfBytes, pngBytes, rawRequest, startHarness, uploadFile } from './helpers';

const LIMIT = 64 * 1024;

let h: Harness;
beforeAll(async () => {
  h = await startHarness('upload_validation', { env: { UPLOAD_MAX_BYTES: String(LIMIT), UPLOAD_IDLE_TIMEOUT_MS: '500' } });
});
afterAll(async () => {
  await h.close();
});

/** Nothing of a refused upload may remain: no object, no temp file, no row, no reservation, no usage. */
async function expectNothingLeftBehind(tenant: string): Promise<void> {
  const stored = await filesUnder(h.dataDir);
  const rows = await h.db.selectFrom('files').select(['storage_key']).execute();
  const known = new Set(rows.map((r) => path.join('objects', r.storage_key.slice(0, 2), r.storage_key)));
  expect(stored.filter((f) => !known.has(f))).toEqual([]);
  expect(await h.db.selectFrom('files').select('id').where('tenant_id', '=', tenant).execute()).toEqual([]);
  expect(await h.db.selectFrom('upload_reservations').select('id').where('tenant_id', '=', tenant).execute()).toEqual([]);
  const usage = await h.db.selectFrom('tenant_usage').select(['bytes', 'files']).where('tenant_id', '=', tenant).executeTakeFirst();
  expect(usage ?? { bytes: 0, files: 0 }).toEqual({ bytes: 0, files: 0 });
}

const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]), Buffer.alloc(200)]);
const PE = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 0x90)]);
const HTML = Buffer.from('<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>');
const SVG = Buffer.from(
  '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>',
);

describe('type checks (magic bytes, allow-list per purpose, extension agreement)', () => {
  it.each([
    ['an HTML page renamed .png', HTML, 'image', 'text/html'],
    ['an ELF executable renamed .png', ELF, 'image', 'application/x-elf'],
    ['a Windows executable renamed .png', PE, 'image', 'application/x-msdownload'],
    ['a shell script renamed .png', Buffer.from('#!/bin/sh\nrm -rf /\n'), 'general', 'text/x-shellscript'],
    ['an HTML page renamed .png (default purpose)', HTML, 'general', 'text/html'],
  ])('%s → 415 naming the detected type', async (_label, content, purpose, detected) => {
    const res = await uploadFile(h.url, 'ten_types', { content, filename: 'innocent.png' }, { purpose });
    expect(res.status).toBe(415);
    expect(res.json().error).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', details: { detected_type: detected } });
    await expectNothingLeftBehind('ten_types');
  });

  it('a real PNG named .pdf → 415 with image/png detected', async () => {
    const res = await uploadFile(h.url, 'ten_types', { content: pngBytes(), filename: 'report.pdf' }, { purpose: 'general' });
    expect(res.status).toBe(415);
    expect(res.json().error.details).toMatchObject({ detected_type: 'image/png', extension: 'pdf', expected_extensions: ['png'] });
    await expectNothingLeftBehind('ten_types');
  });

  it('a PDF is not an image, and JSON must look like JSON', async () => {
    const pdf = await uploadFile(h.url, 'ten_types', { content: pdfBytes(), filename: 'x.pdf' }, { purpose: 'image' });
    expect(pdf.status).toBe(415);
    expect(pdf.json().error.details).toMatchObject({ detected_type: 'application/pdf', purpose: 'image' });
    const json = await uploadFile(
      h.url,
      'ten_types',
      { content: Buffer.from('not json at all'), filename: 'x.json' },
      { purpose: 'document' },
    );
    expect(json.status).toBe(415);
    expect(json.json().error.details).toMatchObject({ detected_type: 'text/plain', extension: 'json' });
    await expectNothingLeftBehind('ten_types');
  });

  it('refuses an image the moment its head is known when the purpose came first (large body)', async () => {
    // 60 KiB of executable: the 415 comes from the head check, before the body ends.
    const res = await uploadFile(
      h.url,
      'ten_types',
      { content: Buffer.concat([ELF, Buffer.alloc(60 * 1024)]), filename: 'big.png' },
      { purpose: 'image' },
    );
    expect(res.status).toBe(415);
    await expectNothingLeftBehind('ten_types');
  });

  it('SVG is refused unless the purpose allows it, and then only served as an attachment', async () => {
    const refused = await uploadFile(h.url, 'ten_svg', { content: SVG, filename: 'logo.svg' }, { purpose: 'image' });
    expect(refused.status).toBe(415);
    expect(refused.json().error.details.detected_type).toBe('image/svg+xml');
    const html = await uploadFile(h.url, 'ten_svg', { content: HTML, filename: 'page.html' }, { purpose: 'design' });
    expect(html.status).toBe(415);

    const accepted = await uploadFile(h.url, 'ten_svg', { content: SVG, filename: 'logo.svg' }, { purpose: 'design' });
    expect(accepted.status).toBe(201);
    expect(accepted.json().mime_type).toBe('image/svg+xml');
    const content = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${accepted.json().id}/content`, headers: auth('ten_svg') });
    expect(content.status).toBe(200);
    expect(content.headers['content-disposition']).toMatch(/^attachment; filename="logo.svg"/);
    expect(content.headers['x-content-type-options']).toBe('nosniff');
    expect(content.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
  });

  it('detects types from bytes, not names', async () => {
    expect((await detectType(pngBytes(), false)).mime).toBe('image/png');
    expect((await detectType(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), true)).mime).toBe('image/jpeg');
    expect((await detectType(Buffer.from('RIFF\x10\0\0\0WEBPVP8 ', 'latin1'), true)).mime).toBe('image/webp');
    expect((await detectType(Buffer.from('  <html><p>hi</p></html>'), false)).mime).toBe('text/html');
    expect((await detectType(Buffer.from('Intro text\n<script>x()</script>'), false)).mime).toBe('text/html');
    expect((await detectType(Buffer.from('<svg viewBox="0 0 1 1"></svg>'), false)).mime).toBe('image/svg+xml');
    expect((await detectType(Buffer.from('héllo wörld ✓'), false)).mime).toBe('text/plain');
    expect((await detectType(Buffer.from([0xc3]), false)).mime).toBe('application/octet-stream');
    expect((await detectType(Buffer.from([0x68, 0x69, 0xc3]), true)).mime).toBe('text/plain');
    expect((await detectType(Buffer.from([0x00, 0x01, 0x02, 0x03]), false)).mime).toBe('application/octet-stream');
  });
});

/** A ZIP of stored (uncompressed) entries, local headers only: enough for magic-byte sniffing. */
function zipOf(entries: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of entries) {
    const data = Buffer.from(content);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt32LE(crc32(data), 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(Buffer.byteLength(name), 26);
    parts.push(header, Buffer.from(name), data);
  }
  return Buffer.concat(parts);
}

const JAR = zipOf([
  ['META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\nMain-Class: Evil\n'],
  ['Evil.class', '\xca\xfe\xba\xbe'],
]);
const RTF = Buffer.from('{\\rtf1\\ansi\\deff0 {\\object\\objemb {\\*\\objdata 0105000002000000}} Quarterly notes}\n');
const BMP = (() => {
  const b = Buffer.alloc(70);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(70, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
})();
const TAR = (() => {
  const b = Buffer.alloc(1024);
  b.write('notes.txt', 0);
  b.write('0000644\0', 100);
  b.write('00000000005\0', 124);
  b.write('ustar\x0000', 257);
  b.write('hello', 512);
  return b;
})();

describe('binary formats by file-type, text by our classifier', () => {
  it('names formats the old signature table did not know', async () => {
    const cases: [string, Buffer, string][] = [
      ['BMP', BMP, 'image/bmp'],
      ['Photoshop', Buffer.concat([Buffer.from('8BPS\0\x01', 'latin1'), Buffer.alloc(40)]), 'image/vnd.adobe.photoshop'],
      ['tar', TAR, 'application/x-tar'],
      ['xz', Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(40)]), 'application/x-xz'],
      ['zstd', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(40)]), 'application/zstd'],
      ['a JAR (a ZIP whose entries say so)', JAR, 'application/java-archive'],
      ['RTF (text, but not plain text)', RTF, 'application/rtf'],
      ['UTF-16 XML', Buffer.from('\ufeff<?xml version="1.0"?><a/>', 'utf16le'), 'application/xml'],
    ];
    const seen = await Promise.all(cases.map(async ([label, bytes]) => [label, (await detectType(bytes, false)).mime]));
    expect(seen).toEqual(cases.map(([label, , mime]) => [label, mime]));
    expect((await detectType(JAR, false)).active).toBe(true);
    expect((await detectType(RTF, false)).active).toBe(true);
  });

  it('checks structure, not only the first bytes: a PNG signature without an image header is no PNG', async () => {
    const fake = Buffer.concat([pngBytes().subarray(0, 8), Buffer.alloc(64)]);
    expect((await detectType(fake, false)).mime).toBe('application/octet-stream');
    expect((await detectType(pngBytes(LIMIT), false)).mime).toBe('image/png');
  });

  it('keeps text that merely starts like a binary signature as text, and SVG behind an XML declaration as SVG', async () => {
    for (const text of ['BMW service notes\n', 'GIFT list: socks\n', 'MZ-ready checklist\n', 'BZh? no idea\n', 'ID3 tags explained\n']) {
      expect([text, (await detectType(Buffer.from(text), false)).mime]).toEqual([text, 'text/plain']);
    }
    expect((await detectType(SVG, false)).mime).toBe('image/svg+xml');
    expect((await detectType(Buffer.from('<?xml version="1.0"?><note/>'), false)).mime).toBe('application/xml');
  });

  it('refuses an RTF named .txt (stored as plain text before) and a JAR named .png, naming them', async () => {
    const rtf = await uploadFile(h.url, 'ten_filetype', { content: RTF, filename: 'notes.txt' }, { purpose: 'document' });
    expect(rtf.status).toBe(415);
    expect(rtf.json().error.details).toMatchObject({ detected_type: 'application/rtf' });
    const jar = await uploadFile(h.url, 'ten_filetype', { content: JAR, filename: 'photo.png' }, { purpose: 'image' });
    expect(jar.status).toBe(415);
    expect(jar.json().error.details).toMatchObject({ detected_type: 'application/java-archive' });
    const bmp = await uploadFile(h.url, 'ten_filetype', { content: BMP, filename: 'photo.png' }, { purpose: 'image' });
    expect(bmp.status).toBe(415);
    expect(bmp.json().error.details).toMatchObject({ detected_type: 'image/bmp' });
    await expectNothingLeftBehind('ten_filetype');

    const notes = await uploadFile(
      h.url,
      'ten_filetype',
      { content: Buffer.from('BMW service notes\n'), filename: 'notes.txt' },
      { purpose: 'document' },
    );
    expect(notes.status).toBe(201);
    expect(notes.json().mime_type).toBe('text/plain');
  });
});

describe('size limit, enforced during the stream', () => {
  it('exactly the limit → 201', async () => {
    const res = await uploadFile(h.url, 'ten_limit', { content: pngBytes(LIMIT), filename: 'exact.png' }, { purpose: 'image' });
    expect(res.status).toBe(201);
    expect(res.json().bytes).toBe(LIMIT);
  });

  it('limit + 1 byte → 413 with nothing left on disk or in the database', async () => {
    const res = await uploadFile(h.url, 'ten_over', { content: pngBytes(LIMIT + 1), filename: 'over.png' }, { purpose: 'image' });
    expect(res.status).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { max_bytes: LIMIT } });
    await expectNothingLeftBehind('ten_over');
  });

  it('limit + 1 byte sent chunked (no Content-Length) → 413 as well', async () => {
    const { body, contentType } = multipartBody([{ name: 'file', filename: 'chunked.png', content: pngBytes(LIMIT + 1) }]);
    const chunks = [body.subarray(0, 1000), body.subarray(1000, 40_000), body.subarray(40_000)];
    const res = await rawRequest(h.url, {
      method: 'POST',
      path: '/v1/files',
      headers: { ...auth('ten_over'), 'Content-Type': contentType, 'Transfer-Encoding': 'chunked' },
      body: chunks,
    });
    expect(res.status).toBe(413);
    await expectNothingLeftBehind('ten_over');
  });

  it('a Content-Length far over the limit is refused before reading the body', async () => {
    const res = await request(h.url)
      .post('/v1/files')
      .set(auth('ten_over'))
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .set('Content-Length', String(LIMIT * 100))
      .send('--x');
    expect(res.status).toBe(413);
  });
});

describe('uploads that never finish', () => {
  /** Send part of a multipart body; `cut` ends the connection, otherwise it stays open and silent. */
  function partialUpload(tenant: string, cut: boolean): Promise<void> {
    const { body, contentType } = multipartBody([{ name: 'file', filename: 'half.png', content: pngBytes(60_000) }]);
    return new Promise((resolve) => {
      const req = http.request(`${h.url}/v1/files`, {
        method: 'POST',
        agent: false,
        headers: { ...auth(tenant), 'Content-Type': contentType, 'Content-Length': body.length },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.on('response', (res) => res.resume());
      req.write(body.subarray(0, 30_000), () => {
        if (cut) setTimeout(() => req.destroy(), 100);
      });
    });
  }

  async function waitUntilClean(tenant: string): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const reservations = await h.db.selectFrom('upload_reservations').select('id').where('tenant_id', '=', tenant).execute();
      const temps = (await filesUnder(h.dataDir)).filter((f) => f.startsWith('tmp'));
      if (reservations.length === 0 && temps.length === 0) return;
      if (Date.now() > deadline) throw new Error(`still there: ${reservations.length} reservations, ${temps.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a client that disconnects mid-upload leaves no partial object, row or reservation', async () => {
    await partialUpload('ten_cut', true);
    await waitUntilClean('ten_cut');
    await expectNothingLeftBehind('ten_cut');
  });

  it('a client that stops sending is cut after UPLOAD_IDLE_TIMEOUT_MS, and its partial upload removed', async () => {
    const started = Date.now();
    await partialUpload('ten_idle', false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await waitUntilClean('ten_idle');
    await expectNothingLeftBehind('ten_idle');
  });
});

describe('client filenames are sanitised metadata, never paths', () => {
  // [name as sent, status]: names whose extension contradicts plain text are refused (415), the rest stored.
  const nasty: [string, number][] = [
    ['../../etc/passwd', 201],
    ['..\\..\\win.ini', 415],
    ['..\\..\\win.ini.txt', 201],
    ['%2e%2e%2f%2e%2e%2fetc%2fpasswd', 201],
    ['evil\u0000.txt', 201],
    ['/absolute/path/x.txt', 201],
    ['a'.repeat(1000) + '.txt', 201],
    ['ünïcødé 文件 📄.txt', 201],
    ['rtl\u202Etxt.exe', 415],
    ['....', 201],
    ['..', 201],
  ];

  it.each(nasty)('%j is stored safely inside the storage root (%d)', async (name, status) => {
    // Sent RFC 5987-encoded (filename*), the way clients carry non-ASCII and control characters.
    const { body, contentType } = multipartBody([
      { name: 'purpose', value: 'document' },
      { name: 'file', filename: 'fallback.txt', filenameStar: name, content: Buffer.from('plain text') },
    ]);
    const res = await rawRequest(h.url, {
      method: 'POST',
      path: '/v1/files',
      headers: { ...auth('ten_names'), 'Content-Type': contentType, 'Content-Length': body.length },
      body,
    });
    expect(res.status).toBe(status);
    for (const stored of await filesUnder(h.dataDir)) expect(stored).toMatch(/^objects\/[A-Za-z0-9]{2}\/[A-Za-z0-9]{32}$/);
    if (status !== 201) {
      expect(res.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      return;
    }
    const file = res.json();
    // eslint-disable-next-line no-control-regex
    expect(file.filename).not.toMatch(/[/\\\u0000-\u001f\u202e]/);
    expect(file.filename).not.toMatch(/^\./);
    expect(Buffer.byteLength(file.filename)).toBeLessThanOrEqual(255);
    // The bytes are where the generated key says.
    const row = await h.db.selectFrom('files').select('storage_key').where('id', '=', file.id).executeTakeFirstOrThrow();
    expect(row.storage_key).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(await fs.readFile(path.join(h.dataDir, 'objects', row.storage_key.slice(0, 2), row.storage_key), 'utf8')).toBe('plain text');
    // And the download name is a safe header.
    const content = await rawRequest(h.url, { method: 'GET', path: `/v1/files/${file.id}/content`, headers: auth('ten_names') });
    expect(content.status).toBe(200);
    expect(content.headers['content-disposition']).toMatch(/^inline; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%._~!-]*$/);
  });

  it('plain (non-encoded) traversal names are stored by their last segment', async () => {
    const res = await uploadFile(
      h.url,
      'ten_names',
      { content: Buffer.from('x'), filename: '../../../../tmp/pwned.txt' },
      { purpose: 'document' },
    );
    expect(res.status).toBe(201);
    expect(res.json().filename).toBe('pwned.txt');
    await expect(fs.stat('/tmp/pwned.txt')).rejects.toThrow();
  });

  it('sanitizeFilename keeps the last segment and the extension', () => {
    expect(sanitizeFilename('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFilename('..\\..\\win.ini')).toBe('win.ini');
    expect(sanitizeFilename('%2e%2e%2fetc')).toBe('%2e%2e%2fetc');
    expect(sanitizeFilename('evil\u0000.txt')).toBe('evil.txt');
    expect(sanitizeFilename('..')).toBe('unnamed');
    expect(sanitizeFilename(undefined)).toBe('unnamed');
    const long = sanitizeFilename('é'.repeat(400) + '.txt');
    expect(long.endsWith('.txt')).toBe(true);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(contentDisposition('attachment', 'a"b\\c ü.txt')).toBe(
      `attachment; filename="a_b_c _.txt"; filename*=UTF-8''a%22b%5Cc%20%C3%BC.txt`,
    );
  });
});
