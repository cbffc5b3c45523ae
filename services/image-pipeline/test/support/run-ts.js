#!/usr/bin/env node
// Runs a TypeScript entry point of this service in a plain Node process (tests spawn real
// worker processes they can SIGKILL). TypeScript is compiled on load with swc, the compiler
// jest uses, and @tollgate/common resolves to its sources, as under jest's module mapping.
// Usage: node test/support/run-ts.js src/main.ts --role=worker
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const ROOT = path.resolve(__dirname, '../../../..');
const ALIASES = {
  '@tollgate/common': path.join(ROOT, 'packages/common/src/index.ts'),
  '@tollgate/common/tracing': path.join(ROOT, 'packages/common/src/tracing.ts'),
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveWithAliases(request, ...rest) {
  return resolveFilename.call(this, ALIASES[request] ?? request, ...rest);
};

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: run-ts.js <entry.ts> [args...]\n');
  process.exit(2);
}
process.argv.splice(1, 2, path.resolve(entry));
require(path.resolve(entry));
