/** One image to make. `seed` + `index` make the result reproducible where the provider allows it. */
export interface GenerateRequest {
  prompt: string;
  model: string;
  width: number;
  height: number;
  seed: number;
  index: number;
  /** Transparent background wanted (garment prints). */
  transparent: boolean;
  /** Stable per image: a provider that supports idempotency keys gets it. */
  idempotencyKey: string;
  signal?: AbortSignal;
}

export interface GeneratedImage {
  data: Buffer;
  /** What the provider says it sent; the pipeline checks the bytes itself anyway. */
  contentType: string;
}

/**
 * Makes images from prompts. Throws GeneratorError: `retryable` decides between a retried job
 * (timeouts, 429, 5xx) and an image failed at once (content policy, bad request).
 */
export interface ImageGenerator {
  readonly name: string;
  readonly models: readonly string[];
  readonly defaultModel: string;
  generate(request: GenerateRequest): Promise<GeneratedImage>;
}

export class GeneratorError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code = retryable ? 'GENERATOR_UNAVAILABLE' : 'GENERATION_REFUSED',
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'GeneratorError';
  }
}
