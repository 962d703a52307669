// The SSF push deliveries on the broker's job queue (src/jobs/job-queue.ts): one job per stream, keyed by
// the stream, carrying only its id — the task reads what is owed when it runs, so a burst of HR changes
// collapses into one pending job (job_key "replace"). Leavers' SETs jump the queue (lower runs first, like
// the fan-out's leavers). Retries re-add the key with a later run_at (push-task.ts), so Retry-After is ours.
import type pg from "pg";
import { addJob } from "../jobs/job-queue.ts";
import { addJobSpecs } from "../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

export const PUSH_TASK = "ssf:push";
export const PRIORITY = Object.freeze({ leaver: -10, other: 0 });

export const pushJobKey = (streamId: string) => `ssf-push:${streamId}`;

export async function enqueuePush(q: Q, streamId: string, priority: number = PRIORITY.other, runAt?: Date): Promise<void> {
  await addJob(q, PUSH_TASK, { streamId }, { jobKey: pushJobKey(streamId), priority, ...(runAt ? { runAt, jobKeyMode: "preserve_run_at" as const } : {}) });
}

/**
 * Every push stream of one HR change in one statement (graphile_worker.add_jobs), re-adding what add_jobs
 * skipped because a worker locked the stream's pending job meanwhile (src/jobs/fanout-jobs.ts addJobSpecs).
 */
export async function enqueuePushes(q: Q, streams: ReadonlyMap<string, number>): Promise<void> {
  if (!streams.size) return;
  await addJobSpecs(q, [...streams].map(([streamId, priority]) => ({ task: PUSH_TASK, payload: { streamId }, key: pushJobKey(streamId), priority })));
}
