// The credits API as the benchmark's target, in its own process (so the load generator and the
// server do not share one event loop). Started by bench.mjs; reports its port over IPC.
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/credits/package.json'));
const common = require('@tollgate/common');
const { createApp } = require('./dist/app.js');
const { configSchema } = require('./dist/config.js');
const { migrations } = require('./dist/migrations/index.js');
const { buildLedger } = require('./dist/deps.js');

const config = common.parseConfig(configSchema, process.env);
const logger = common.createLogger({ service: 'credits-bench', level: 'warn', pretty: false });
const db = common.createDb({ connectionString: config.DATABASE_URL, schema: config.DB_SCHEMA, poolMax: config.DATABASE_POOL_MAX, applicationName: 'credits-bench' });
await common.migrateToLatest(db, config.DB_SCHEMA, migrations);
// Events go to memory: the benchmark measures the ledger, not Redis.
const ledger = buildLedger({ config, db, logger, events: common.memoryEventPublisher() });
const { app } = createApp({ config, logger, metrics: common.createMetrics('credits', { collectDefault: false }), db, ledger });
const server = await common.startServer({ app, port: 0, host: '127.0.0.1', logger, keepAliveTimeoutMs: 120_000 });
process.send({ port: server.port });
process.on('message', async (message) => {
  if (message === 'stats') {
    // Group-commit counters (absent on a ledger that does not batch).
    const cpu = process.cpuUsage();
    // hrtime (µs) is the clock of `--cpu-prof` samples: lets a profile be cut to a window.
    process.send({ ...(ledger.batcher?.stats() ?? {}), cpu_us: cpu.user + cpu.system, hrtime_us: Number(process.hrtime.bigint() / 1000n) });
    return;
  }
  if (message === 'stop') {
    await server.shutdown('bench done');
    await db.destroy();
    process.exit(0);
  }
});
