import { AppError, parseOrThrow } from '@tollgate/common';
import { type ChatRequest, chatRequestSchema, type EmbeddingsRequest, embeddingsRequestSchema } from './schema';

/** NUL characters are refused outright: providers choke on them and Postgres text cannot hold them. */
function refuseNullBytes(body: unknown): void {
  if (JSON.stringify(body ?? null).includes('\\u0000')) {
    throw new AppError('VALIDATION_FAILED', 'The request must not contain null bytes (\\u0000)');
  }
}

export function parseChatRequest(body: unknown): ChatRequest {
  refuseNullBytes(body);
  return parseOrThrow(chatRequestSchema, body ?? {}, 'request');
}

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  refuseNullBytes(body);
  return parseOrThrow(embeddingsRequestSchema, body ?? {}, 'request');
}
