// One jest run over every workspace package, so `npm test` reports a single summary.
module.exports = {
  // Global options: in projects mode jest ignores these inside each project's config.
  testTimeout: 30000,
  projects: ['<rootDir>/packages/*', '<rootDir>/services/*', '<rootDir>/deploy*', '<rootDir>/scripts/e2e'],
};
