import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO } from './repo';

/**
 * Compose's variable interpolation (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `$$` for a literal `$`), applied to every string value the
 * way `docker compose` does before it validates the file.
 */
export function interpolate<T>(value: T, env: Record<string, string | undefined>): T {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (match, name?: string, op?: string, arg?: string, bare?: string) => {
        if (match === '$$') return '$';
        if (bare) return env[bare] ?? '';
        const current = env[name!];
        const unset = op?.startsWith(':') ? !current : current === undefined;
        if (op?.endsWith('-')) return unset ? arg! : current!;
        if (op?.endsWith('?')) {
          if (unset) throw new Error(`required variable ${name} is missing: ${arg}`);
          return current!;
        }
        return current ?? '';
      },
    ) as T;
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)])) as T;
  return value;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: {
    test: string[] | string;
    interval?: string;
    timeout?: string;
    retries?: number;
    start_period?: string;
    disable?: boolean;
  };
  ports?: string[];
  volumes?: string[];
  networks?: string[];
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  restart?: string;
  stop_grace_period?: string;
  tmpfs?: string[];
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
}

/** docker-compose.yml as written (YAML anchors and merge keys resolved, no interpolation). */
export function loadComposeRaw(): ComposeFile {
  return parse(readFileSync(path.join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
}

/** docker-compose.yml as `docker compose` would see it with the given environment. */
export function loadCompose(env: Record<string, string | undefined> = {}): ComposeFile {
  return interpolate(loadComposeRaw(), env);
}

/** Compose durations: `1m30s`, `10s`, `500ms`. */
export function durationSeconds(text: string): number {
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g, (_m, n: string, unit: string) => {
    total += Number(n) * units[unit]!;
    return '';
  });
  if (rest !== '') throw new Error(`not a duration: ${text}`);
  return total;
}
