// Where the built console lives, for the edge gateway to serve (`pnpm --filter @tollgate/console build`).
const path = require('node:path');

module.exports = { consoleDir: path.join(__dirname, 'dist') };
