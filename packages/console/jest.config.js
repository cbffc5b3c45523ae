module.exports = { ...require('../../jest.preset.js'), displayName: 'console' };
