module.exports = { ...require('../../jest.preset.js'), displayName: 'image-pipeline' };
