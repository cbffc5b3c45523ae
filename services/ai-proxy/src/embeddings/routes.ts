import { requireScope } from '@tollgate/common';
import { Router } from 'express';
import { callerOf } from '../chat/routes';
import { parseEmbeddingsRequest } from '../openai/validate';
import type { EmbeddingsService } from './service';

/** POST /v1/embeddings (OpenAI-compatible). */
export function embeddingsRoutes(embeddings: EmbeddingsService): Router {
  const router = Router();

  router.post('/v1/embeddings', requireScope('completion'), async (req, res) => {
    const request = parseEmbeddingsRequest(req.body);
    const result = await embeddings.embed(callerOf(req, request), request);
    res.status(200).set(result.headers).type('application/json').send(result.body);
  });

  return router;
}
