#!/usr/bin/env node
// `node scripts/pnpm.mjs <args>`: the pinned pnpm, whatever is on PATH.
import { pnpm } from './lib/pnpm.mjs';
process.exit(pnpm(process.argv.slice(2), { exitOnFailure: false }));
