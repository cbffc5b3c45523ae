// One jest run over every workspace package, so `npm test` reports a single summary.
module.exports = {
  projects: ['<rootDir>/packages/*', '<rootDir>/services/*', '<rootDir>/deploy*', '<rootDir>/scripts/e2e'],
};
