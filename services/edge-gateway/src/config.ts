import { baseConfigSchema, envInt, envSecret, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

const upstreamUrl = (port: number) => z.string().url().default(`http://127.0.0.1:${port}`);

export const configSchema = baseConfigSchema.extend({
  PORT: envInt(8080, { min: 0, max: 65535 }),
  DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('gateway'),
  /** Bearer token for admin calls (tenants, keys, top-ups). */
  ADMIN_TOKEN: envSecret(),
  AI_PROXY_URL: upstreamUrl(8081),
  CREDITS_URL: upstreamUrl(8082),
  UPLOAD_URL: upstreamUrl(8083),
  IMAGE_PIPELINE_URL: upstreamUrl(8084),
  WEBHOOK_URL: upstreamUrl(8085),
  /** Upstream response deadline for ordinary routes; streaming routes use PROXY_STREAM_TIMEOUT_MS. */
  PROXY_TIMEOUT_MS: envInt(30_000, { min: 100 }),
  PROXY_STREAM_TIMEOUT_MS: envInt(600_000, { min: 100 }),
  /** Lifetime of the X-Tollgate-Identity token minted per request. */
  IDENTITY_TTL_S: envInt(60, { min: 5, max: 3600 }),
});

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
