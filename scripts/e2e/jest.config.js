const preset = require('../../jest.preset.js');

module.exports = {
  ...preset,
  displayName: 'e2e',
  testTimeout: 120000,
  // Answers through the gateway are checked against the published document too.
  setupFilesAfterEnv: [...preset.setupFilesAfterEnv, '<rootDir>/test/support/check-gateway-responses.ts'],
};
