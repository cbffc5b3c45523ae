// A createService app with one small JSON route, built from the given copy of common's dist:
// the shared HTTP stack's own cost, without any service logic. Used by stack/run.mjs.
import { createRequire } from 'node:module';
import path from 'node:path';

const [distDir, port] = process.argv.slice(2);
// Resolve common's dependencies (express, helmet, prom-client) from the package itself.
const require = createRequire(path.join(process.cwd(), 'packages/common/package.json'));
const common = require(path.resolve(distDir, 'index.js'));
const logger = common.createLogger ? common.createLogger({ service: 'bench', level: 'warn' }) : undefined;
const { app } = common.createService({
  name: 'bench',
  logger,
  metrics: common.createMetrics('bench', { collectDefault: false }),
  accessLog: false,
  requestTimeoutMs: Number(process.env.STACK_TIMEOUT_MS ?? 30_000),
  routes: (a) => {
    a.get('/v1/thing', (_req, res) => {
      res.json({ ok: true, n: 1 });
    });
  },
});
const server = app.listen(Number(port ?? 0), '127.0.0.1', () => process.send?.({ port: server.address().port }));
server.keepAliveTimeout = 65_000;
// Exit normally on SIGTERM so `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('disconnect', () => process.exit(0));
