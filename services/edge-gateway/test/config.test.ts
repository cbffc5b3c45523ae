import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, parseConfig } from '@tollgate/common';
import { configSchema } from '../src/config';

const base = { ADMIN_TOKEN: 'admin-token-for-config-tests' };

describe('config', () => {
  it('parses byte sizes and lists', () => {
    const config = parseConfig(configSchema, { ...base, BODY_LIMIT_WRITE: '2mb', BODY_LIMIT_UPLOAD: '1gb', RATE_LIMIT_FAIL_CLOSED: 'generation,ip', DEFAULT_KEY_SCOPES: 'read' });
    expect(config.BODY_LIMIT_WRITE).toBe(2 * 1024 * 1024);
    expect(config.BODY_LIMIT_UPLOAD).toBe(1024 ** 3);
    expect(config.RATE_LIMIT_FAIL_CLOSED).toEqual(['generation', 'ip']);
    expect(config.DEFAULT_KEY_SCOPES).toEqual(['read']);
    expect(config.JWT_ALGORITHMS).toEqual(['HS256', 'RS256', 'ES256']);
  });

  it('can never allow alg none, nor unknown scopes or tiers', () => {
    expect(() => parseConfig(configSchema, { ...base, JWT_ALGORITHMS: 'HS256,none' })).toThrow(/JWT_ALGORITHMS/);
    expect(() => parseConfig(configSchema, { ...base, DEFAULT_KEY_SCOPES: 'read,admin' })).toThrow(/DEFAULT_KEY_SCOPES/);
    expect(() => parseConfig(configSchema, { ...base, RATE_LIMIT_FAIL_CLOSED: 'everything' })).toThrow(/RATE_LIMIT_FAIL_CLOSED/);
    expect(() => parseConfig(configSchema, { ...base, BODY_LIMIT_WRITE: 'lots' })).toThrow(/BODY_LIMIT_WRITE/);
  });

  it('requires strong secrets in production', () => {
    const strong = { ADMIN_TOKEN: 'a'.repeat(40), INTERNAL_JWT_SECRET: 'b'.repeat(40), NODE_ENV: 'production' };
    expect(() => parseConfig(configSchema, { ...strong, JWT_SECRET: 'short-but-16-chars' })).toThrow(ConfigError);
    expect(() => parseConfig(configSchema, { ...strong, ADMIN_TOKEN: 'admin' })).toThrow(/ADMIN_TOKEN/);
    expect(parseConfig(configSchema, { ...strong, JWT_SECRET: 'c'.repeat(32) }).JWT_SECRET).toBe('c'.repeat(32));
  });

  it('a production start with a placeholder secret stops at once with one clear line', () => {
    // The built service, as `node dist/main.js` runs in the image; it must exit before touching
    // PostgreSQL or Redis (unreachable addresses here).
    const main = path.join(__dirname, '../dist/main.js');
    const run = spawnSync(process.execPath, [main], {
      env: {
        PATH: process.env['PATH'],
        NODE_ENV: 'production',
        ADMIN_TOKEN: 'tgadmin_compose_local_only_change_me',
        INTERNAL_JWT_SECRET: 'x'.repeat(48),
        DATABASE_URL: 'postgres://127.0.0.1:1/none',
        REDIS_URL: 'redis://127.0.0.1:1',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe('Invalid configuration: ADMIN_TOKEN is a placeholder or a development default; set a real secret in production\n');
  });
});
