// @ts-check
// Container HEALTHCHECK: `node healthcheck.js [path]` exits 0 when the service in this image
// answers 200 on /readyz (or the given path) within 2.5 s, else 1 (on METRICS_PORT when set). Plain Node, no curl in the image.
'use strict';

/** Each service's default PORT (docs/architecture.md); the PORT variable, when set, wins. */
const DEFAULT_PORTS = {
  'edge-gateway': 8080,
  'ai-proxy': 8081,
  credits: 8082,
  upload: 8083,
  'image-pipeline': 8084,
  webhook: 8085,
};

function check() {
  const service = /** @type {keyof typeof DEFAULT_PORTS} */ (process.env.TOLLGATE_SERVICE ?? '');
  const path = process.argv[2] ?? '/readyz';
  // With METRICS_PORT set, /readyz and /metrics are served only there (common's runService).
  const operatorPath = /^\/(readyz|metrics)\b/.test(path);
  const port = Number((operatorPath && process.env.METRICS_PORT) || process.env.PORT || DEFAULT_PORTS[service]);
  if (!Number.isInteger(port) || port <= 0) {
    process.stderr.write('healthcheck: set PORT or TOLLGATE_SERVICE\n');
    process.exit(1);
  }
  fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2500) }).then(
    (res) => process.exit(res.status === 200 ? 0 : 1),
    () => process.exit(1),
  );
}

if (require.main === module) check();

module.exports = { DEFAULT_PORTS };
