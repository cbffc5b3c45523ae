#!/usr/bin/env node
// `npm run openapi`: the public API document and its reference, from the code. Loads every
// service's generated OpenAPI document from its build (no service is started), merges them the
// way the gateway's GET /openapi.json does, and writes docs/openapi.json and docs/api.md.
// `--check` writes nothing and fails when either file differs from what the code generates
// (the drift test in npm test, scripts/e2e/test/openapi-docs.test.ts).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { renderApiReference } from './lib/api-reference.mjs';
import { ensureNode } from './lib/node.mjs';
import { pnpm, ROOT } from './lib/pnpm.mjs';

await ensureNode(); // the builds load ES-module dependencies with require() (Node 24)

/** The gateway's upstream names (services/edge-gateway/src/proxy/routes.ts, upstreamUrls): they namespace components. */
const SERVICES = ['ai-proxy', 'credits', 'upload', 'image-pipeline', 'webhook'];
const OUTPUTS = { json: path.join(ROOT, 'docs/openapi.json'), markdown: path.join(ROOT, 'docs/api.md') };

const check = process.argv.includes('--check');
const require = createRequire(import.meta.url);
const built = (service, file) => path.join(ROOT, 'services', service, 'dist', file);

if (!check || process.argv.includes('--build')) {
  pnpm([
    'exec',
    'turbo',
    'run',
    'build',
    '--output-logs=errors-only',
    ...['edge-gateway', ...SERVICES].map((s) => `--filter=@tollgate/${s}`),
  ]);
}
for (const service of ['edge-gateway', ...SERVICES]) {
  if (!existsSync(built(service, 'openapi.js'))) {
    console.error(`${built(service, 'openapi.js')} is missing: run npm run build first`);
    process.exit(1);
  }
}

const { mergeOpenApi } = require(built('edge-gateway', 'openapi-merge/merge.js'));
const own = require(built('edge-gateway', 'openapi.js')).openapiDocument;
const merged = mergeOpenApi(
  own,
  SERVICES.map((name) => ({ name, document: require(built(name, 'openapi.js')).openapiDocument })),
);
const outputs = {
  json: `${JSON.stringify(merged, null, 2)}\n`,
  markdown: renderApiReference(merged),
};

let drifted = 0;
for (const [kind, file] of Object.entries(OUTPUTS)) {
  const relative = path.relative(ROOT, file);
  if (check) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (current !== outputs[kind]) {
      console.error(`${relative} is not what the code generates: run npm run openapi and commit it`);
      drifted += 1;
    }
  } else {
    writeFileSync(file, outputs[kind]);
    console.log(`wrote ${relative}`);
  }
}
process.exit(drifted > 0 ? 1 : 0);
