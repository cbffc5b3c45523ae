import { z } from 'zod';
import { baseConfigSchema, ConfigError, envBoolean, envInt, envOptionalSecret, envSecret, loadConfigOrExit, parseConfig } from '../src/config';

const schema = baseConfigSchema.extend({ PORT: envInt(8082, { min: 0, max: 65535 }), FEATURE: envBoolean(true), API_SECRET: envSecret('dev-default') });

describe('config', () => {
  it('applies defaults from docs/architecture.md', () => {
    const config = parseConfig(schema, {});
    expect(config.DATABASE_URL).toBe('postgres://localhost:5432/tollgate');
    expect(config.REDIS_URL).toBe('redis://localhost:6379');
    expect(config.PORT).toBe(8082);
    expect(config.API_SECRET).toBe('dev-default');
  });

  it('parses booleans explicitly: "false" is false', () => {
    expect(parseConfig(schema, { FEATURE: 'false' }).FEATURE).toBe(false);
    expect(parseConfig(schema, { FEATURE: '0' }).FEATURE).toBe(false);
    expect(parseConfig(schema, { FEATURE: 'true' }).FEATURE).toBe(true);
    expect(() => parseConfig(schema, { FEATURE: 'maybe' })).toThrow(/FEATURE/);
  });

  it('reports every bad variable in one line', () => {
    let message = '';
    try {
      parseConfig(schema, { PORT: 'eighty', REDIS_URL: 'not a url' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^Invalid configuration: /);
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/REDIS_URL/);
  });

  it('enforces secret rules in production only', () => {
    expect(() => parseConfig(schema, { NODE_ENV: 'production' })).toThrow(/API_SECRET is required/);
    expect(() => parseConfig(schema, { NODE_ENV: 'production', API_SECRET: 'changeme' })).toThrow(/API_SECRET is a placeholder/);
    expect(() => parseConfig(schema, { NODE_ENV: 'production', API_SECRET: 'too-short-but-real' })).toThrow(/API_SECRET must be at least 32/);
    expect(() => parseConfig(schema, { NODE_ENV: 'production', API_SECRET: 'x'.repeat(40), INTERNAL_JWT_SECRET: 'short' })).toThrow(/INTERNAL_JWT_SECRET/);
    const ok = parseConfig(schema, { NODE_ENV: 'production', API_SECRET: 'a'.repeat(40), INTERNAL_JWT_SECRET: 'b'.repeat(40) });
    expect(ok.API_SECRET).toBe('a'.repeat(40));
  });

  it('refuses placeholders and development defaults in production, wherever they come from', () => {
    const strong = { NODE_ENV: 'production', API_SECRET: 'a'.repeat(40), INTERNAL_JWT_SECRET: 'b'.repeat(40) };
    const placeholders = [
      'change_me',
      'CHANGE-ME',
      'local_only',
      'tgadmin_compose_local_only_change_me', // docker-compose's former ADMIN_TOKEN default
      'compose-local-only-internal-secret-3b9f6c1e8a', // and its INTERNAL_JWT_SECRET default
      'dev-internal-secret-change-me-0123456789', // common's dev default
      'dev-webhook-secrets-key-change-me-0123456789', // the webhook service's
      'replace-me-with-a-real-secret-of-32-chars-or-more',
    ];
    for (const value of placeholders) {
      let message = '';
      try {
        parseConfig(schema, { ...strong, INTERNAL_JWT_SECRET: value });
      } catch (err) {
        message = (err as Error).message;
      }
      expect([value, message]).toEqual([value, 'Invalid configuration: INTERNAL_JWT_SECRET is a placeholder or a development default; set a real secret in production']);
    }
    // A dev default any envSecret declares is refused for every secret, not only its own.
    expect(() => parseConfig(schema, { ...strong, API_SECRET: 'dev-internal-secret-change-me-0123456789' })).toThrow(/API_SECRET is a placeholder/);
    expect(() => parseConfig(schema, { ...strong, DATABASE_URL: 'postgres://tollgate:change-me@db:5432/tollgate' })).toThrow(/DATABASE_URL has a placeholder/);
    expect(() => parseConfig(schema, { ...strong, REDIS_URL: 'redis://:tollgate-local-only@redis:6379' })).toThrow(/REDIS_URL has a placeholder/);
    // Outside production the same values are fine: they are what local runs use.
    expect(parseConfig(schema, { INTERNAL_JWT_SECRET: 'change_me', DATABASE_URL: 'postgres://tollgate:change-me@db:5432/tollgate' }).INTERNAL_JWT_SECRET).toBe('change_me');
    const optional = baseConfigSchema.extend({ S3_SECRET: envOptionalSecret({ minLength: 0 }) });
    expect(parseConfig(optional, { ...strong, S3_SECRET: 'minio-secret' }).S3_SECRET).toBe('minio-secret');
    expect(parseConfig(optional, { ...strong }).S3_SECRET).toBeUndefined();
    expect(() => parseConfig(optional, { ...strong, S3_SECRET: 'change-me' })).toThrow(/S3_SECRET is a placeholder/);
  });

  it('loadConfigOrExit prints one clear line and exits 1, without a stack trace', () => {
    const writes: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const exit = jest.spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    try {
      expect(() => loadConfigOrExit(z.object({ PORT: envInt(1, { max: 10 }) }), { PORT: '99' })).toThrow('exit 1');
      expect(writes).toHaveLength(1);
      expect(writes[0]).toMatch(/^Invalid configuration: PORT .*\n$/);
      expect(writes[0]).not.toMatch(/\bat .*\(/);
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
  });
});
