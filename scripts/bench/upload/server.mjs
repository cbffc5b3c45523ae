// The upload service as the benchmark's target, in its own process, so its RSS is its own and
// the client does not share its event loop. Started by bench.mjs; talks over IPC:
//   → {type: 'ready', port}    ← {type: 'reset-peak'} → {type: 'peak', baseline, peak}
import { createRequire } from 'node:module';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'services/upload/package.json'));
const common = require('@tollgate/common');
const { createApp } = require('./dist/app.js');
const { buildUploadDeps } = require('./dist/deps.js');
const { configSchema } = require('./dist/config.js');
const { migrations } = require('./dist/migrations/index.js');
const { createStorage } = require('./dist/storage/index.js');
const { TusStaging } = require('./dist/tus/staging.js');

const config = common.parseConfig(configSchema, process.env);
const logger = common.createLogger({ service: 'upload-bench', level: 'warn', pretty: false });
const db = common.createDb({
  connectionString: config.DATABASE_URL,
  schema: config.DB_SCHEMA,
  poolMax: 10,
  applicationName: 'upload-bench',
});
await common.migrateToLatest(db, config.DB_SCHEMA, migrations);
const redis = common.createRedis(config.REDIS_URL, 'request');
const storage = await createStorage(config);
const staging = await new TusStaging(config.DATA_DIR).init();
const publisher = common.memoryEventPublisher();
const service = createApp(buildUploadDeps({
  config,
  logger,
  metrics: common.createMetrics('upload', { collectDefault: false }),
  db,
  redis,
  storage,
  staging,
  publisher,
}));
const server = await common.startServer({ app: service.app, port: 0, host: '127.0.0.1', logger, requestTimeoutMs: 0 });

// Peak RSS, sampled often enough to catch a transient buffer build-up.
let baseline = process.memoryUsage.rss();
let peak = baseline;
globalThis
  .setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20)
  .unref();

process.on('message', async (message) => {
  if (message.type === 'reset-peak') {
    globalThis.gc?.();
    baseline = process.memoryUsage.rss();
    peak = baseline;
    process.send({ type: 'reset', baseline });
  } else if (message.type === 'peak') {
    peak = Math.max(peak, process.memoryUsage.rss());
    process.send({ type: 'peak', baseline, peak });
  } else if (message.type === 'stop') {
    await server.shutdown('bench done');
    await redis.quit();
    await db.destroy();
    process.exit(0);
  }
});
process.send({ type: 'ready', port: server.port });
