// Shared jest settings for every workspace package: TypeScript through swc (no
// type-checking here; `tsc` does that), workspace packages resolved to their sources.
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)s$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript', decorators: false }, target: 'es2022' },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: {
    '^@tollgate/(common|testkit)$': path.join(__dirname, 'packages/$1/src/index.ts'),
    '^@tollgate/common/tracing$': path.join(__dirname, 'packages/common/src/tracing.ts'),
  },
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
  testTimeout: 30000,
};
