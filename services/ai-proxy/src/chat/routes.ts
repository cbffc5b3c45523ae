import { type Identity, requireScope } from '@tollgate/common';
import { type Request, Router } from 'express';
import { parseChatRequest } from '../openai/validate';
import { type CacheMode, type Caller, type ChatService, idempotentBillingKey } from './service';
import { createSseSink } from './sse';
import { parseTags, TAGS_HEADER } from '../usage/tags';

/** Who calls, with the attribution its usage row keeps (the tags header is validated here: 400 when malformed). */
export function callerOf(req: Request, request?: { user?: string | undefined; metadata?: Record<string, string> | undefined }): Caller {
  const identity = req.identity as Identity;
  return {
    tenantId: identity.tenantId,
    keyId: identity.keyId,
    requestId: req.requestId,
    tags: parseTags(req.header(TAGS_HEADER)),
    user: request?.user,
    metadata: request?.metadata,
    allowedModels: identity.models,
    tokensPerMinute: identity.tokensPerMinute,
    budget: identity.budget,
  };
}

function cacheModeOf(header: string | undefined): CacheMode {
  const value = header?.trim().toLowerCase();
  return value === 'on' ? 'on' : value === 'off' ? 'off' : 'default';
}

/** POST /v1/chat/completions (OpenAI-compatible). */
export function completionRoutes(chat: ChatService): Router {
  const router = Router();

  router.post('/v1/chat/completions', requireScope('completion'), async (req, res) => {
    const request = parseChatRequest(req.body);
    const caller = callerOf(req, request);
    if (request.stream) {
      // Streams are never replayed: a retried stream is another delivery, billed on its own.
      await chat.stream(caller, request, createSseSink(res));
      return;
    }
    // The gateway passes the client's Idempotency-Key on (validated there, scoped to the tenant here).
    const idempotencyKey = req.header('idempotency-key');
    const billing = idempotencyKey ? { billingKey: idempotentBillingKey('chat', idempotencyKey, request) } : {};
    const result = await chat.complete(caller, request, { cacheMode: cacheModeOf(req.header('x-tollgate-cache')), ...billing });
    res.status(200).set(result.headers).type('application/json').send(result.body);
  });

  return router;
}
