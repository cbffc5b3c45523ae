// @ts-check
// One-shot migrations for the service in this image: `node migrate.js` applies its pending
// migrations to its own schema and exits 0 (1 with one line on failure). It reads the same
// environment as the service (a bad setting stops it here, before any rollout) and takes the same
// Postgres advisory lock as a starting service, so running it beside live replicas is safe.
'use strict';

const { createDb, createLogger, migrateToLatest } = require('@tollgate/common');
const { loadConfig } = require('./dist/config');
const { migrations } = require('./dist/migrations');

async function main() {
  const config = loadConfig();
  const service = process.env.TOLLGATE_SERVICE ?? 'service';
  const logger = createLogger({ service: `${service}-migrate`, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const db = createDb({
    connectionString: config.DATABASE_URL,
    schema: config.DB_SCHEMA,
    poolMax: 1,
    applicationName: `${service}-migrate`,
  });
  try {
    const applied = await migrateToLatest(db, config.DB_SCHEMA, migrations, logger);
    logger.info('migrations are up to date', { schema: config.DB_SCHEMA, applied: applied.length });
  } finally {
    await db.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
