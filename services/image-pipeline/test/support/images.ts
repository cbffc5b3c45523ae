import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** A PNG of the given size, quickly (compression level 1); noise makes the pixels non-trivial. */
export async function makePng(width: number, height: number, options: { alpha?: boolean; noise?: boolean } = {}): Promise<Buffer> {
  const channels = options.alpha === false ? 3 : 4;
  return sharp({
    create: {
      width,
      height,
      channels,
      background: { r: 200, g: 60, b: 90, alpha: 0.9 },
      ...(options.noise ? { noise: { type: 'gaussian' as const, mean: 128, sigma: 40 } } : {}),
    },
  })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

export async function makeJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#336699' } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** A real PNG cut off in the middle of its pixel data. */
export async function truncatedPng(): Promise<Buffer> {
  const full = await makePng(1500, 1500, { noise: true, alpha: false });
  return full.subarray(0, Math.floor(full.length * 0.6));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A decompression bomb's calling card: a valid PNG header claiming width×height (30000×30000 =
 * 900 MP, 2.7 GB of RGB) with almost no pixel data behind it. Anything that trusts the header
 * and allocates first would fall over.
 */
export function headerOnlyBomb(width = 30_000, height = 30_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
