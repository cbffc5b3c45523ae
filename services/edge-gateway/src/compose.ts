import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Runs middleware in order as one: the gateway's per-request chain is a single router layer
 * instead of one per step (Express re-matches and re-slices the path for every layer). Errors,
 * thrown or rejected, go to `next` like Express 5 does.
 */
export function compose(...steps: RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    let index = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null) {
        next(err);
        return;
      }
      const handler = steps[index++];
      if (!handler) {
        next();
        return;
      }
      try {
        const result: unknown = handler(req, res, step as NextFunction);
        if (result instanceof Promise) result.catch((e: unknown) => step(e ?? new Error('middleware rejected')));
      } catch (e) {
        step(e ?? new Error('middleware threw'));
      }
    };
    step();
  };
}
