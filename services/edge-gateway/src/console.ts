import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '@tollgate/common';
import express, { Router } from 'express';

/**
 * The web console (packages/console), static files served before any authentication: the app
 * itself holds no secret, and every call it makes goes through /v1 with the token the user typed.
 * Only GET/HEAD of /console/, /console/index.html and /console/assets/<file> answer; the
 * gateway's security headers (strict CSP: scripts and styles from 'self' only) apply as to every
 * response. Asset names carry a content hash, so they are cached for a year; the page never is.
 */
export function consoleRouter(dir: string | undefined): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const indexFile = dir ? path.join(dir, 'index.html') : undefined;
  const built = indexFile !== undefined && existsSync(indexFile);
  // Read once: the page is a few hundred bytes and changes only with a new build (and a restart).
  const index = built ? readFileSync(indexFile) : undefined;

  router.use((req, _res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on the console`, { headers: { Allow: 'GET, HEAD' } });
    if (!built) throw new AppError('NOT_FOUND', 'The console is not built here (pnpm --filter @tollgate/console build)');
    next();
  });
  router.get(['/', '/index.html'], (req, res) => {
    if (req.originalUrl.split('?', 1)[0] === '/console') {
      res.redirect(301, '/console/');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(index);
  });
  if (built) {
    router.use(
      '/assets',
      express.static(path.join(dir!, 'assets'), { index: false, dotfiles: 'ignore', redirect: false, immutable: true, maxAge: '365d', fallthrough: true }),
    );
  }
  return router;
}
