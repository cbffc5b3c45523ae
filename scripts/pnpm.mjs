#!/usr/bin/env node
// `node scripts/pnpm.mjs <args>`: the pinned pnpm, whatever is on PATH.
import { pnpm } from './lib/pnpm.mjs';
import { ensureNode } from './lib/node.mjs';

await ensureNode(); // Node 24 or later, else re-run under the pinned Node 24 (scripts/lib/node.mjs)
process.exit(pnpm(process.argv.slice(2), { exitOnFailure: false }));
