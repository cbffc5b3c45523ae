import type { ErrorRequestHandler, Request, Response } from 'express';
import { AppError, toAppError, toEnvelope, toOpenAiError } from '../errors';
import type { Logger } from '../logger';
import { settleUnreadBody } from './unread-body';

export type ErrorFormat = 'envelope' | 'openai';

/**
 * The OpenAI-compatible public routes (chat completions, embeddings, models): their errors come in
 * OpenAI's shape so OpenAI SDKs parse them. Everything else, /v1/async included (our own API),
 * answers in the envelope. The gateway and ai-proxy both decide with this one rule.
 */
const OPENAI_COMPATIBLE_PATH = /^\/v1\/(chat\/completions|embeddings|models)(\/|$)/i;

export function errorFormatForPath(path: string): ErrorFormat {
  return OPENAI_COMPATIBLE_PATH.test(path) ? 'openai' : 'envelope';
}

/** Routes that answer in OpenAI's error shape set this (or pass errorFormatFor to createService). */
export function useOpenAiErrors() {
  return (_req: Request, res: Response, next: () => void): void => {
    res.locals['errorFormat'] = 'openai';
    next();
  };
}

/** Every refusal is answered here, often before the body was read: see settleUnreadBody. */
export function sendError(req: Request, res: Response, err: AppError, format: ErrorFormat = 'envelope'): void {
  settleUnreadBody(req, res);
  if (err.headers) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  const requestId = req.requestId;
  res.status(err.status).json(format === 'openai' ? toOpenAiError(err, requestId) : toEnvelope(err, requestId));
}

/**
 * The one error middleware. 4xx are logged at info, everything else at error with the full
 * cause; the body never carries a stack or an internal message.
 */
export function errorHandler(logger: Logger, formatFor?: (req: Request) => ErrorFormat): ErrorRequestHandler {
  // Express recognises error middleware by its four parameters, so `_next` stays.
  return (err, req, res, _next) => {
    const appError = toAppError(err);
    if (appError.status >= 500) {
      logger.error('request failed', { err: err instanceof AppError && err.cause ? err.cause : err, code: appError.code, method: req.method, path: req.path });
    } else {
      logger.info('request rejected', { code: appError.code, reason: appError.message, method: req.method, path: req.path });
    }
    if (res.headersSent) {
      // A stream already started: all we can do is cut it, so the client sees an incomplete body.
      res.destroy();
      return;
    }
    const format: ErrorFormat = (res.locals['errorFormat'] as ErrorFormat | undefined) ?? formatFor?.(req) ?? 'envelope';
    sendError(req, res, appError, format);
  };
}
