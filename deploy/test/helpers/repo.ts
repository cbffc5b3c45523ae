import path from 'node:path';

/** The repository root (deploy/test/helpers → ../../..). */
export const REPO = path.resolve(__dirname, '../../..');

/** docs/architecture.md: every service, its port, and whether it has a worker process (`--role=worker`). */
export const SERVICES = [
  { name: 'edge-gateway', port: 8080, worker: false },
  { name: 'ai-proxy', port: 8081, worker: true },
  { name: 'credits', port: 8082, worker: true },
  { name: 'upload', port: 8083, worker: true },
  { name: 'image-pipeline', port: 8084, worker: true },
  { name: 'webhook', port: 8085, worker: true },
] as const;

export type ServiceName = (typeof SERVICES)[number]['name'];
export const SERVICE_NAMES: readonly ServiceName[] = SERVICES.map((s) => s.name);
