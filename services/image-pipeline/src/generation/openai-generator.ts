import { parseRetryAfter, scopedSignal } from '@tollgate/common';
import { GeneratorError, type GeneratedImage, type GenerateRequest, type ImageGenerator } from './generator';

export interface OpenAiGeneratorOptions {
  baseUrl: string;
  apiKey: string;
  models: readonly string[];
  timeoutMs: number;
  /** Largest image accepted (b64 or downloaded). */
  maxBytes: number;
  fetchImpl?: typeof fetch;
}

/** Sizes each known model accepts; others get the square default. */
const MODEL_SIZES: Record<string, readonly string[]> = {
  'gpt-image-1': ['1024x1024', '1536x1024', '1024x1536'],
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
};

/** The provider size closest in shape to what was asked (the largest of equal shape). */
export function providerSize(model: string, width: number, height: number): string {
  const sizes = MODEL_SIZES[model] ?? ['1024x1024'];
  const wanted = Math.log(width / height);
  let best = sizes[0]!;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const size of sizes) {
    const [w, h] = size.split('x').map(Number) as [number, number];
    const score = Math.abs(Math.log(w / h) - wanted) * 1e6 - w * h;
    if (score < bestScore) {
      bestScore = score;
      best = size;
    }
  }
  return best;
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes)
    throw new GeneratorError(`The provider's image is ${declared} bytes, above the limit`, false, 'GENERATED_IMAGE_TOO_LARGE');
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new GeneratorError("The provider's image is above the size limit", false, 'GENERATED_IMAGE_TOO_LARGE');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * Any OpenAI-compatible `POST /images/generations` (OpenAI, Azure-style proxies, local servers).
 * One image per call, so each image is charged, retried and failed on its own.
 */
export function createOpenAiGenerator(options: OpenAiGeneratorOptions): ImageGenerator {
  const fetchImpl = options.fetchImpl ?? fetch;
  const base = options.baseUrl.replace(/\/$/, '');
  return {
    name: 'openai',
    models: options.models,
    defaultModel: options.models[0] ?? 'gpt-image-1',
    async generate(request: GenerateRequest): Promise<GeneratedImage> {
      // One deadline for the call and the reading of its body (and a download), released when done.
      const deadline = scopedSignal([request.signal], options.timeoutMs);
      try {
        return await generateWithin(request, deadline.signal);
      } finally {
        deadline.dispose();
      }
    },
  };

  async function generateWithin(request: GenerateRequest, signal: AbortSignal): Promise<GeneratedImage> {
    const body: Record<string, unknown> = {
      model: request.model,
      prompt: request.prompt,
      n: 1,
      size: providerSize(request.model, request.width, request.height),
    };
    if (request.model.startsWith('gpt-image')) {
      body['output_format'] = 'png';
      if (request.transparent) body['background'] = 'transparent';
    } else {
      body['response_format'] = 'b64_json';
    }
    let res: Response;
    try {
      res = await fetchImpl(`${base}/images/generations`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': request.idempotencyKey,
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw new GeneratorError(`The image provider could not be reached: ${(err as Error).name}`, true);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let message = `The image provider answered ${res.status}`;
      try {
        const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
        if (typeof parsed.error?.message === 'string') message = `${message}: ${parsed.error.message.slice(0, 300)}`;
      } catch {
        // not JSON; the status says enough
      }
      if (res.status === 429 || res.status >= 500 || res.status === 408) {
        throw new GeneratorError(message, true, 'GENERATOR_UNAVAILABLE', parseRetryAfter(res.headers.get('retry-after')));
      }
      throw new GeneratorError(
        message,
        false,
        res.status === 401 || res.status === 403 ? 'GENERATOR_MISCONFIGURED' : 'GENERATION_REFUSED',
      );
    }
    const payload = (await res.json().catch(() => undefined)) as { data?: { b64_json?: unknown; url?: unknown }[] } | undefined;
    const first = payload?.data?.[0];
    if (typeof first?.b64_json === 'string') {
      if (first.b64_json.length > Math.ceil((options.maxBytes * 4) / 3) + 4)
        throw new GeneratorError("The provider's image is above the size limit", false, 'GENERATED_IMAGE_TOO_LARGE');
      return { data: Buffer.from(first.b64_json, 'base64'), contentType: 'image/png' };
    }
    if (typeof first?.url === 'string' && /^https?:\/\//.test(first.url)) {
      let download: Response;
      try {
        download = await fetchImpl(first.url, { signal });
      } catch (err) {
        throw new GeneratorError(`The generated image could not be downloaded: ${(err as Error).name}`, true);
      }
      if (!download.ok) throw new GeneratorError(`The generated image download answered ${download.status}`, download.status >= 500);
      return {
        data: await readCapped(download, options.maxBytes),
        contentType: download.headers.get('content-type') ?? 'application/octet-stream',
      };
    }
    throw new GeneratorError('The image provider returned no image', true);
  }
}
