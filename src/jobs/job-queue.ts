// The broker's durable job queue: graphile-worker on the broker's own PostgreSQL (LISTEN/NOTIFY pickup in
// ~1 ms, job keys for de-duplication, run_at for effective dates and delays). Jobs are added with SQL inside
// the caller's transaction — a state change and the work it causes commit together (transactional outbox) —
// and run by the runner started here. The fan-out's jobs (fanout-jobs.ts) use neither named queues nor
// graphile-worker's backoff: they are ordered by leases and retry by re-adding their own key (see there).
import { run, runMigrations, type Runner, type TaskList, type Logger as GwLogger, type WorkerEvents } from "graphile-worker";
import { EventEmitter } from "node:events";
import { Logger as GraphileLogger } from "graphile-worker";
import type pg from "pg";
import type { Logger } from "../shared/logger.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface JobSpec {
  /** an instant of the broker's clock (an effective date); or */
  runAt?: Date;
  /** a delay from the database's now() — the clock graphile-worker compares run_at with */
  delayMs?: number;
  /** de-duplication key: a newer job with the same key replaces a pending one (desired-state delivery) */
  jobKey?: string;
  /** jobs in one named queue run one at a time, in order (the fan-out uses none: see fanout-jobs.ts) */
  queueName?: string;
  /** lower runs first (leavers jump the queue) */
  priority?: number;
  maxAttempts?: number;
  /** "replace" (default) | "preserve_run_at" | "unsafe_dedupe" */
  jobKeyMode?: "replace" | "preserve_run_at" | "unsafe_dedupe";
}

/** Adds a job in the caller's transaction. */
export async function addJob(q: Q, task: string, payload: unknown, spec: JobSpec = {}): Promise<void> {
  await q.query(
    `SELECT graphile_worker.add_job($1, $2::json, queue_name => $3,
       run_at => coalesce($4::timestamptz, now() + $9::int * interval '1 millisecond'), max_attempts => $5, job_key => $6,
       priority => $7, job_key_mode => $8)`,
    [task, JSON.stringify(payload ?? {}), spec.queueName ?? null, spec.runAt ?? null, spec.maxAttempts ?? 25,
      spec.jobKey ?? null, spec.priority ?? 0, spec.jobKeyMode ?? "replace", spec.delayMs ?? null]);
}

/** Installs/updates graphile-worker's own schema (idempotent); must run before any addJob. */
export async function migrateJobQueue(pool: pg.Pool): Promise<void> {
  await runMigrations({ pgPool: pool, logger: quietLogger() });
}

export interface JobQueue {
  runner: Runner;
  /** graphile-worker's worker-pool id: what `locked_by` of this process's running jobs says (crash recovery) */
  poolId: string | undefined;
  /** Stops fetching, lets running jobs finish, releases the LISTEN connection; resolves when all is done. */
  stop(): Promise<void>;
}

export async function startJobQueue(opts: { pool: pg.Pool; tasks: TaskList; concurrency: number; log: Logger; crontab?: string }): Promise<JobQueue> {
  // Our own emitter, handed in before start, so the pool's id is known from its creation (not its first job).
  const events: WorkerEvents = new EventEmitter() as WorkerEvents;
  let poolId: string | undefined;
  events.on("pool:create", ({ workerPool }) => { poolId = workerPool.id; });
  const runner = await run({
    pgPool: opts.pool, taskList: opts.tasks, concurrency: opts.concurrency, noHandleSignals: true, pollInterval: 1000,
    logger: bridgeLogger(opts.log), crontab: opts.crontab ?? "", events,
  });
  let stopping: Promise<void> | undefined;
  return {
    runner, get poolId() { return poolId; },
    // runner.stop() resolves once the worker pool has released its LISTEN client (UNLISTEN) and the cron,
    // so a caller that closes the pg pool (or stops PostgreSQL) afterwards causes no error-level lines.
    stop: () => (stopping ??= runner.stop().then(() => runner.promise.catch(() => {}))),
  };
}

function bridgeLogger(log: Logger): GwLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    const l = level === "error" ? "error" : level === "warning" ? "warn" : "debug";
    log[l]({ component: "job-queue", ...(meta as object) }, message);
  });
}
const quietLogger = () => new GraphileLogger(() => () => {});

/**
 * graphile-worker race (add_jobs, sql/000018): a keyed add that finds the job available clears nothing,
 * and if a worker locks the job before the add's INSERT … ON CONFLICT DO UPDATE lands, the new payload is
 * merged into a job that is already running — and deleted, new payload included, when it completes. Run
 * after a task succeeds: if the job's revision moved while it ran, the newer payload is queued again under
 * the same key (the running job is locked, so add_job gives it a fresh row). One statement, run after every
 * job: FOR UPDATE waits for a merging transaction that has not committed yet and then reads the row as that
 * transaction left it (PostgreSQL re-checks an updated row, §13.2.1), so a late merge is seen too; add_job,
 * a function, reads with a snapshot of its own taken after the wait.
 */
export async function requeueIfRevised(pool: Q, job: { id: string | number; revision: number; key: string | null; task_identifier: string; priority: number; max_attempts: number; queue_name?: string | null }): Promise<boolean> {
  if (!job.key) return false;
  const { rows } = await pool.query({ name: "jobs_requeue_if_revised", text:
    `WITH cur AS (SELECT payload, revision FROM graphile_worker._private_jobs WHERE id = $1 FOR UPDATE)
     SELECT (graphile_worker.add_job($3, cur.payload, queue_name => $4, max_attempts => $5, job_key => $6, priority => $7, job_key_mode => 'replace')).id
       FROM cur WHERE cur.revision <> $2`,
    values: [job.id, job.revision, job.task_identifier, job.queue_name ?? null, job.max_attempts, job.key, job.priority] });
  return rows.length > 0;
}
