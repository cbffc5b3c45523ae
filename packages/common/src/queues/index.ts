import { SpanKind, trace } from '@opentelemetry/api';
import { type ConnectionOptions, type Job, type JobsOptions, Queue, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import { randomUUID } from 'node:crypto';
import client from 'prom-client';
import { z } from 'zod';
import { currentContext, runWithContext, tracingSdkActive } from '../context';
import { traceIdsUnder } from '../trace-context';
import type { Logger } from '../logger';
import { extractTraceContext, injectTraceHeaders } from '../tracing';

export { UnrecoverableError } from 'bullmq';

/** Carried in every job's data so logs and traces continue across the queue. */
export interface JobMeta {
  request_id: string;
  trace?: Record<string, string>;
}

export const jobMetaSchema = z.object({ request_id: z.string(), trace: z.record(z.string(), z.string()).optional() });

/** One entry of a queue's typed job catalogue: name, payload schema, retry policy. */
export interface JobDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  schema: S;
  options?: JobsOptions;
}

export function defineJob<S extends z.ZodType>(name: string, schema: S, options: JobsOptions = {}): JobDefinition<S> {
  return { name, schema, options };
}

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  // Failed jobs are kept a week so a person can see and replay them.
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface QueueFactoryOptions {
  connection: ConnectionOptions;
  /** Redis key prefix for this deployment (or test file). */
  prefix: string;
}

/**
 * Every queue this process opened (until it is closed), for `bullmq_job_count`. One service runs
 * per process, so the process's queues are the service's; tests that build several apps in one
 * process read only the registry they scrape, and a closed queue leaves the set.
 */
const openQueues = new Set<Queue>();

export function createQueue(name: string, options: QueueFactoryOptions): Queue {
  const queue = new Queue(name, { connection: options.connection, prefix: options.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  openQueues.add(queue);
  const close = queue.close.bind(queue);
  queue.close = () => {
    openQueues.delete(queue);
    return close();
  };
  return queue;
}

/**
 * Installs a repeating job (BullMQ job scheduler, deduplicated by id across replicas) and keeps
 * it installed: a scheduler lives only in Redis, so a Redis that lost its data (restarted empty,
 * flushed) would otherwise stop every recovery sweep until the next process start — exactly
 * when the sweeps are needed to re-queue the lost jobs. Checked every min(every, 60 s).
 */
export async function keepJobScheduler(
  queue: Queue,
  id: string,
  everyMs: number,
  template: { name: string; data?: Record<string, unknown>; opts?: JobsOptions },
  logger?: Logger,
): Promise<void> {
  const install = () => queue.upsertJobScheduler(id, { every: everyMs }, { name: template.name, data: template.data ?? {}, opts: template.opts ?? {} });
  await install();
  const timer = setInterval(() => {
    if ((queue as unknown as { closing?: unknown }).closing) return clearInterval(timer);
    queue
      .getJobScheduler(id)
      .then(async (existing) => {
        if (existing) return;
        await install();
        logger?.warn('job scheduler re-installed (Redis had lost it)', { queue: queue.name, scheduler: id });
      })
      .catch(() => undefined); // Redis down: try again next time
  }, Math.min(everyMs, 60_000));
  timer.unref();
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

/**
 * `bullmq_job_count{queue,state}` — the series BullMQ's own `exportPrometheusMetrics` writes,
 * read from Redis at scrape time for every queue of this process. Redis down: the series are
 * left out rather than failing the whole scrape (`redis_up` says why).
 */
export function observeQueues(metrics: { registry: client.Registry }, queues: () => Iterable<Queue> = () => openQueues): void {
  new client.Gauge({
    name: 'bullmq_job_count',
    help: 'Jobs in each BullMQ queue of this service, by state',
    labelNames: ['queue', 'state'] as const,
    registers: [metrics.registry],
    async collect() {
      this.reset();
      await Promise.all(
        [...queues()].map(async (queue) => {
          try {
            const counts = await withTimeout(queue.getJobCounts(...JOB_STATES), 2_000);
            for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
          } catch {
            // Redis unreachable or slow: no series for this queue in this scrape.
          }
        }),
      );
    },
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Adds a validated job, stamped with the current request id and trace context. */
export async function enqueue<S extends z.ZodType>(
  queue: Queue,
  def: JobDefinition<S>,
  data: z.input<S>,
  options: JobsOptions = {},
): Promise<Job> {
  const payload = def.schema.parse(data) as Record<string, unknown>;
  const meta: JobMeta = { request_id: currentContext()?.requestId ?? randomUUID(), trace: injectTraceHeaders() };
  return queue.add(def.name, { ...payload, _meta: meta }, { ...def.options, ...options });
}

/**
 * Enqueues, but waits at most `waitMs` for Redis. For a caller whose work is already durable
 * (a committed row a recovery sweep re-queues under the same job id): during a Redis outage the
 * queue connection holds the command until Redis returns, and an API request must not hang with
 * it. `pending` means the add is still in flight (it lands on reconnect; the job id keeps a
 * later re-queue from doubling it). A rejection is still thrown.
 */
export async function enqueueWithin<S extends z.ZodType>(
  queue: Queue,
  def: JobDefinition<S>,
  data: z.input<S>,
  options: JobsOptions,
  waitMs: number,
): Promise<{ state: 'queued'; job: Job } | { state: 'pending'; settled: Promise<unknown> }> {
  const adding = enqueue(queue, def, data, options);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), waitMs);
  });
  try {
    const first = await Promise.race([adding, waited]);
    if (first === 'timeout') {
      // Seen by whoever awaits `settled`; never an unhandled rejection.
      const settled = adding.catch((err: unknown) => err);
      return { state: 'pending', settled };
    }
    return { state: 'queued', job: first };
  } finally {
    clearTimeout(timer);
  }
}

export type JobHandler<S extends z.ZodType> = (data: z.infer<S>, job: Job) => Promise<unknown>;

export interface HandlerEntry<S extends z.ZodType = z.ZodType> {
  def: JobDefinition<S>;
  handle: JobHandler<S>;
}

export function handler<S extends z.ZodType>(def: JobDefinition<S>, handle: JobHandler<S>): HandlerEntry<S> {
  return { def, handle };
}

export interface WorkerFactoryOptions extends QueueFactoryOptions {
  logger: Logger;
  concurrency?: number;
  /** Called once when a job has used its last attempt (or failed unrecoverably). */
  onFinalFailure?: (job: Job, error: Error) => Promise<void> | void;
  workerOptions?: Partial<WorkerOptions>;
}

/**
 * A worker dispatching by job name to typed handlers. Payloads are validated (a bad payload
 * fails at once, unretried), each job runs in its request's log context and trace, and final
 * failures are logged and reported instead of vanishing into the failed set.
 */
export function createWorker(queueName: string, handlers: HandlerEntry<any>[], options: WorkerFactoryOptions): Worker {
  const byName = new Map(handlers.map((h) => [h.def.name, h]));
  const tracer = trace.getTracer('tollgate-queues');
  const { logger } = options;
  const worker = new Worker(
    queueName,
    async (job) => {
      const entry = byName.get(job.name);
      if (!entry) throw new UnrecoverableError(`No handler for job ${job.name} on ${queueName}`);
      const raw = (job.data ?? {}) as Record<string, unknown>;
      const meta = jobMetaSchema.safeParse(raw['_meta']);
      const requestId = meta.success ? meta.data.request_id : `job-${job.id ?? randomUUID()}`;
      const parsed = entry.def.schema.safeParse(raw);
      if (!parsed.success) {
        throw new UnrecoverableError(`Invalid payload for ${job.name}: ${parsed.error.issues.map((i: z.core.$ZodIssue) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
      }
      const carrier = meta.success ? meta.data.trace : undefined;
      const parent = extractTraceContext(carrier);
      const trace = tracingSdkActive() ? undefined : traceIdsUnder(carrier?.['traceparent']);
      return runWithContext({ requestId, ...(trace ? { trace } : {}) }, () =>
        tracer.startActiveSpan(`${queueName} ${job.name}`, { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': queueName, 'bullmq.job.id': job.id ?? '', 'bullmq.job.attempt': job.attemptsMade + 1 } }, parent, async (span) => {
          try {
            return await entry.handle(parsed.data, job);
          } catch (err) {
            span.recordException(err as Error);
            throw err;
          } finally {
            span.end();
          }
        }),
      );
    },
    { connection: options.connection, prefix: options.prefix, concurrency: options.concurrency ?? 4, ...options.workerOptions },
  );
  worker.on('failed', (job, error) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    const final = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.attemptsMade >= attempts;
    const fields = { queue: queueName, job: job.name, job_id: job.id, attempt: job.attemptsMade, attempts, err: error };
    if (!final) {
      logger.warn('job attempt failed; will retry', fields);
      return;
    }
    logger.error('job failed permanently', fields);
    if (options.onFinalFailure) {
      void Promise.resolve(options.onFinalFailure(job, error)).catch((err: unknown) => logger.error('onFinalFailure failed', { queue: queueName, job_id: job.id, err }));
    }
  });
  worker.on('error', (err) => logger.error('worker error', { queue: queueName, err }));
  return worker;
}
