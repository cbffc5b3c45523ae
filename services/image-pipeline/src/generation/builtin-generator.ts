import { createHash } from 'node:crypto';
import { sleep } from '@tollgate/common';
import sharp from 'sharp';
import type { GeneratedImage, GenerateRequest, ImageGenerator } from './generator';

export const BUILTIN_MODEL = 'tollgate-render-1';

/** Deterministic bytes from the request: the same prompt, seed and index always draw the same picture. */
function byteStream(seedText: string): () => number {
  let block = createHash('sha256').update(seedText).digest();
  let offset = 0;
  return () => {
    if (offset === block.length) {
      block = createHash('sha256').update(block).digest();
      offset = 0;
    }
    return block[offset++]!;
  };
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

/**
 * Draws a small canvas of soft discs and bands in a palette taken from the prompt's hash, then
 * lets sharp scale it to the requested size. Pure CPU and sharp: no network, no model, so the
 * mesh runs with nothing outside it, and every prompt gets its own picture.
 */
export function renderPromptArt(
  request: Pick<GenerateRequest, 'prompt' | 'model' | 'seed' | 'index' | 'width' | 'height' | 'transparent'>,
): Promise<Buffer> {
  const next = byteStream(`${request.model}\n${request.seed}\n${request.index}\n${request.prompt}`);
  const factor = Math.max(1, Math.ceil(Math.max(request.width, request.height) / 640));
  const w = Math.max(8, Math.ceil(request.width / factor));
  const h = Math.max(8, Math.ceil(request.height / factor));
  const canvas = Buffer.alloc(w * h * 4);

  const baseHue = (next() / 255) * 360;
  const palette = [0, 1, 2, 3, 4].map((i) => hslToRgb((baseHue + i * (50 + next() / 8)) % 360, 0.55 + next() / 600, 0.35 + next() / 600));
  if (!request.transparent) {
    // A vertical gradient between the first two colours.
    const [top, bottom] = [palette[0]!, palette[1]!];
    for (let y = 0; y < h; y++) {
      const t = y / (h - 1);
      const r = top[0] + (bottom[0] - top[0]) * t;
      const g = top[1] + (bottom[1] - top[1]) * t;
      const b = top[2] + (bottom[2] - top[2]) * t;
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 4;
        canvas[o] = r;
        canvas[o + 1] = g;
        canvas[o + 2] = b;
        canvas[o + 3] = 255;
      }
    }
  }

  const blend = (o: number, rgb: [number, number, number], alpha: number) => {
    const dstA = canvas[o + 3]! / 255;
    const outA = alpha + dstA * (1 - alpha);
    if (outA <= 0) return;
    for (let c = 0; c < 3; c++) canvas[o + c] = Math.round((rgb[c]! * alpha + canvas[o + c]! * dstA * (1 - alpha)) / outA);
    canvas[o + 3] = Math.round(outA * 255);
  };

  const shapes = 5 + (next() % 6);
  const short = Math.min(w, h);
  for (let s = 0; s < shapes; s++) {
    const colour = palette[2 + (next() % 3)]!;
    const cx = (next() / 255) * w;
    const cy = (next() / 255) * h;
    const radius = short * (0.08 + (next() / 255) * 0.3);
    const ring = next() % 3 === 0 ? radius * (0.55 + next() / 1000) : 0;
    const opacity = 0.65 + next() / 800;
    const x0 = Math.max(0, Math.floor(cx - radius - 1));
    const x1 = Math.min(w - 1, Math.ceil(cx + radius + 1));
    const y0 = Math.max(0, Math.floor(cy - radius - 1));
    const y1 = Math.min(h - 1, Math.ceil(cy + radius + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        // One pixel of soft edge outside, and inside the ring's hole.
        let coverage = Math.min(1, Math.max(0, radius - d + 0.5));
        if (ring > 0) coverage = Math.min(coverage, Math.min(1, Math.max(0, d - ring + 0.5)));
        if (coverage > 0) blend((y * w + x) * 4, colour, coverage * opacity);
      }
    }
  }

  return sharp(canvas, { raw: { width: w, height: h, channels: 4 } })
    .resize(request.width, request.height, { fit: 'fill', kernel: 'cubic' })
    .png({ compressionLevel: 3, adaptiveFiltering: false })
    .toBuffer();
}

export interface BuiltinGeneratorOptions {
  /** Artificial latency per image, for demos and tests of in-flight jobs. */
  latencyMs?: number;
}

export function createBuiltinGenerator(options: BuiltinGeneratorOptions = {}): ImageGenerator {
  return {
    name: 'builtin',
    models: [BUILTIN_MODEL],
    defaultModel: BUILTIN_MODEL,
    async generate(request): Promise<GeneratedImage> {
      if (options.latencyMs) await sleep(options.latencyMs, request.signal);
      return { data: await renderPromptArt(request), contentType: 'image/png' };
    },
  };
}
