import path from 'node:path';
import { baseConfigSchema, envBoolean, envInt, envOptionalSecret, loadConfigOrExit } from '@tollgate/common';
import { z } from 'zod';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const configSchema = baseConfigSchema
  .extend({
    PORT: envInt(8083, { min: 0, max: 65535 }),
    DB_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('uploads'),

    /** Local storage root (objects, temporary writes, tus staging). Keep it outside any served folder. */
    DATA_DIR: z
      .string()
      .min(1)
      .default('.data/uploads')
      .transform((dir) => path.resolve(dir)),
    STORAGE_DRIVER: z.enum(['local', 's3']).default('local'),
    S3_BUCKET: z.string().min(3).optional(),
    /** For S3-compatible servers (MinIO, Ceph, ...); unset for AWS itself. */
    S3_ENDPOINT: z.string().url().optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: envOptionalSecret({ minLength: 0 }),
    S3_FORCE_PATH_STYLE: envBoolean(false),

    /** Largest file accepted, multipart or tus; one byte more is a 413. */
    UPLOAD_MAX_BYTES: envInt(100 * MiB, { min: 1 }),
    /** Per-tenant quota: stored bytes and files, in-flight uploads included. */
    QUOTA_MAX_BYTES: envInt(10 * GiB, { min: 0 }),
    QUOTA_MAX_FILES: envInt(10_000, { min: 0 }),
    /** Expiry given to files uploaded without `expires_in`; 0 = never expire. */
    FILE_DEFAULT_TTL_S: envInt(0, { min: 0 }),
    FILE_MAX_TTL_S: envInt(365 * 24 * 3600, { min: 1 }),
    /** An unfinished tus upload is removed (and its quota released) this long after creation. */
    TUS_UPLOAD_TTL_S: envInt(24 * 3600, { min: 1 }),
    /** An upload that sends no byte for this long is cut. */
    UPLOAD_IDLE_TIMEOUT_MS: envInt(60_000, { min: 100 }),
    /** A whole request (a streamed upload) must arrive within this; Node's default would cut it at 300 s. */
    UPLOAD_REQUEST_TIMEOUT_MS: envInt(3_600_000, { min: 100 }),

    /** How often the `upload-maintenance` sweep runs. */
    MAINTENANCE_INTERVAL_MS: envInt(60_000, { min: 100 }),
    /** Objects and temporary files older than this with no metadata row are orphans. */
    ORPHAN_GRACE_S: envInt(3600, { min: 0 }),
    /** A multipart upload's quota reservation not refreshed for this long is released. */
    RESERVATION_TTL_S: envInt(900, { min: 1 }),
  })
  .superRefine((config, ctx) => {
    if (config.STORAGE_DRIVER === 's3' && !config.S3_BUCKET) {
      ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'is required when STORAGE_DRIVER=s3' });
    }
  });

export type Config = z.infer<typeof configSchema>;

export const loadConfig = (env: Record<string, string | undefined> = process.env): Config => loadConfigOrExit(configSchema, env);

/** The listener's slow-client guard: every route here is an upload or answers without a body. */
export const serverTimeouts = (config: Config) => ({ requestTimeoutMs: config.UPLOAD_REQUEST_TIMEOUT_MS });
