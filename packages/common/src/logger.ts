import winston from 'winston';
import { currentContext, currentTraceIds } from './context';

export type Logger = winston.Logger;

/** Keys whose values never reach a log line. */
const SECRET_KEY = /(authorization|api[-_]?key|password|passwd|secret|token|cookie|credential|x-tollgate-identity)/i;
/** Values that look like credentials even under an innocent key. */
const SECRET_VALUE = /\b(Bearer\s+[A-Za-z0-9._~+/=-]+|tg_[A-Za-z0-9_]{8,}|whsec_[A-Za-z0-9+/=]{8,}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)/g;
const REDACTED = '[REDACTED]';

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[Truncated]';
  if (typeof value === 'string') return value.replace(SECRET_VALUE, REDACTED);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) {
    return { name: value.name, message: redact(value.message, depth + 1), stack: value.stack, ...(value.cause ? { cause: redact(value.cause, depth + 1) } : {}) };
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

/** Adds request_id / tenant_id / trace ids from the async context and redacts secrets. */
const contextAndRedaction = winston.format((info) => {
  const ctx = currentContext();
  if (ctx) {
    if (info['request_id'] === undefined) info['request_id'] = ctx.requestId;
    if (ctx.tenantId && info['tenant_id'] === undefined) info['tenant_id'] = ctx.tenantId;
  }
  const ids = currentTraceIds();
  if (ids) {
    info['trace_id'] ??= ids.trace_id;
    info['span_id'] ??= ids.span_id;
  }
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'service' || key === 'timestamp') continue;
    info[key] = SECRET_KEY.test(key) ? REDACTED : redact(info[key]);
  }
  return info;
});

export interface LoggerOptions {
  service: string;
  level?: string;
  /** Human-friendly lines; defaults to on when stdout is a TTY. */
  pretty?: boolean;
  /** Extra transports (tests capture lines with a stream transport). */
  transports?: winston.transport[];
  silent?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const format = winston.format.combine(
    winston.format.timestamp(),
    winston.format.errors({ stack: true }),
    contextAndRedaction(),
    pretty
      ? winston.format.printf((info) => {
          const { timestamp, level, message, service, ...rest } = info;
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${String(service)} ${level}: ${String(message)}${extra}`;
        })
      : winston.format.json(),
  );
  const logger = winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta: { service: options.service },
    silent: options.silent ?? false,
    transports: options.transports ?? [new winston.transports.Console()],
  });
  // winston runs the logger's formats before any transport compares levels: a line below the
  // level (an access log at LOG_LEVEL=warn) is dropped first, so it costs no timestamp,
  // redaction or JSON. Read at each line, so a level changed at run time applies at once.
  const enabled = winston.format((info) => (logger.isLevelEnabled(info.level) ? info : false));
  logger.format = winston.format.combine(enabled(), format);
  return logger;
}
