import path from 'node:path';
import express, { Router } from 'express';
import { getAbsoluteFSPath } from 'swagger-ui-dist';

/**
 * Swagger UI from the swagger-ui-dist package, with no inline script so the default
 * Content-Security-Policy holds.
 */
export function docsRouter(specUrl: string): Router {
  const router = Router();
  const assets = getAbsoluteFSPath();
  router.get('/', (req, res, next) => {
    // Relative asset URLs need the trailing slash.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) {
      res.redirect(301, `${req.originalUrl.split('?')[0]}/`);
      return;
    }
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate API</title>
<link rel="stylesheet" href="swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script><script src="init.js"></script></body></html>`);
    void next;
  });
  router.get('/init.js', (_req, res) => {
    res.type('application/javascript').send(`window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#swagger-ui' });\n`);
  });
  router.use(express.static(path.resolve(assets), { index: false, maxAge: '1h' }));
  return router;
}
