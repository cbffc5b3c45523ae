import { baseConfigSchema, envInt, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  PORT: envInt(8081, { min: 0, max: 65535 }),
  DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('ai'),
});

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);
