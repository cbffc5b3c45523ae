import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger } from '@tollgate/common';

/** A real logger whose JSON lines are kept in memory for assertions. */
export function captureLogger(service = 'test'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ service, level: 'debug', pretty: false, transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

export function silentLogger(service = 'test'): Logger {
  return createLogger({ service, silent: true, pretty: false });
}
