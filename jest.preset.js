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
    // Integration tests may run a sibling service's real app in-process (e.g. ai-proxy billing
    // against the real credits ledger): `import { createApp } from '@tollgate/credits/app'`.
    // A service may also share test support with its siblings (the real credits ledger):
    // `@tollgate/credits/test/support/real-credits`.
    '^@tollgate/(edge-gateway|ai-proxy|credits|upload|image-pipeline|webhook)/test/(.*)$': path.join(__dirname, 'services/$1/test/$2'),
    '^@tollgate/(edge-gateway|ai-proxy|credits|upload|image-pipeline|webhook)/(.*)$': path.join(__dirname, 'services/$1/src/$2'),
  },
  // Every response a service app sends in a test is checked against its OpenAPI document.
  setupFilesAfterEnv: [path.join(__dirname, 'packages/testkit/src/jest/check-responses.ts')],
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
  testTimeout: 30000,
};
