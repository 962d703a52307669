// The SSF push deliveries on the broker's job queue (src/jobs/job-queue.ts): one job per stream, keyed by
// the stream, carrying only its id — the task reads what is owed when it runs, so a burst of HR changes
// collapses into one pending job (job_key "replace"). Leavers' SETs jump the queue (lower runs first, like
// the fan-out's leavers). Retries re-add the key with a later run_at (push-task.ts), so Retry-After is ours.
import type pg from "pg";
import { addJob } from "../jobs/job-queue.ts";
import { addJobSpecs, GW_MAX_ATTEMPTS } from "../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

export const PUSH_TASK = "ssf:push";
export const PRIORITY = Object.freeze({ leaver: -10, other: 0 });

export const pushJobKey = (streamId: string) => `ssf-push:${streamId}`;
/**
 * One named queue per stream: graphile-worker runs its jobs one at a time, so a push job added while the
 * stream's previous one runs waits for it — one stream is never pushed by two workers at once (no SET sent
 * twice by crossing runs, its order kept). Streams still run in parallel with each other.
 */
export const pushQueue = (streamId: string) => `ssf-push:${streamId}`;

export async function enqueuePush(q: Q, streamId: string, priority: number = PRIORITY.other, runAt?: Date): Promise<void> {
  await addJob(q, PUSH_TASK, { streamId }, { jobKey: pushJobKey(streamId), queueName: pushQueue(streamId), priority, ...(runAt ? { runAt, jobKeyMode: "preserve_run_at" as const } : {}) });
}

/**
 * Every push stream of one HR change in one statement (graphile_worker.add_jobs), re-adding what add_jobs
 * skipped because a worker locked the stream's pending job meanwhile (src/jobs/fanout-jobs.ts addJobSpecs).
 */
export async function enqueuePushes(q: Q, streams: ReadonlyMap<string, number>): Promise<void> {
  if (!streams.size) return;
  await addJobSpecs(q, [...streams].map(([streamId, priority]) => ({ task: PUSH_TASK, payload: { streamId }, key: pushJobKey(streamId), queue: pushQueue(streamId), priority })));
}

/**
 * enqueuePushes as SQL for a statement the outbox sends anyway (one round trip less in the HR transaction):
 * graphile_worker.add_jobs returning the keys it wrote, parameters numbered from `first`. The caller hands
 * the keys it got back to readdSkipped: add_jobs may skip a spec whose pending job a worker locked meanwhile
 * (src/jobs/fanout-jobs.ts addJobSpecs).
 */
export function addPushesSql(streams: ReadonlyMap<string, number>, first: number): { sql: string; params: unknown[] } {
  const $ = (n: number) => `$${first + n}`;
  return {
    sql: `SELECT j.key FROM graphile_worker.add_jobs(
       (SELECT array_agg(ROW('${PUSH_TASK}', json_build_object('streamId', s.id), '${pushQueue("")}' || s.id, NULL, ${$(2)}::int, '${pushJobKey("")}' || s.id, s.priority, NULL)::graphile_worker.job_spec)
          FROM unnest(${$(0)}::text[], ${$(1)}::int[]) AS s(id, priority)), false) AS j`,
    params: [[...streams.keys()], [...streams.values()], GW_MAX_ATTEMPTS],
  };
}

/** The pushes add_jobs did not write (see addPushesSql), added again the verified way. */
export async function readdSkipped(q: Q, streams: ReadonlyMap<string, number>, writtenKeys: readonly string[]): Promise<void> {
  const written = new Set(writtenKeys);
  const skipped = new Map([...streams].filter(([id]) => !written.has(pushJobKey(id))));
  await enqueuePushes(q, skipped);
}
