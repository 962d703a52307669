// The fan-out's jobs on graphile-worker: task names, job keys, priorities, and the two ways a job is
// (re)added. Payloads carry only ids (plus a retry counter): a task reads the CURRENT desired state from the
// database when it runs, so a burst of HR updates collapses into the one pending job of its key (job_key
// "replace" mode) and delivers the latest state, never a stale diff.
//
// Ordering per (app, user) is NOT done with graphile-worker named queues: its queue strategy locks every
// available queue row on each fetch, and concurrent fetchers then skip each other's locked queues (measured
// idle workers and 10× latency with one queue per key). Jobs stay queue-less, so workers fetch in parallel
// with SKIP LOCKED, and a lease on the app_account / app_group row (see fanout/delivery/account-repository.ts)
// makes the second of two concurrent deliveries for one key wait for the first.
//
// Retries are ours, not graphile-worker's (whose backoff cannot honour Retry-After): a task that must try
// again later re-adds its own key with run_at in the future and returns successfully. Every delivery add
// goes through addJobSpecs, which re-adds what add_jobs silently skipped (see there). While a job runs it is
// locked, so add_jobs clears the running job's key and inserts a fresh one; "preserve_run_at" keeps an
// earlier run_at if an HR change already queued a newer job meanwhile (it must not wait for our backoff).
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export const USER_TASK = "fanout:user";
export const GROUP_TASK = "fanout:group";
export const PROBE_TASK = "fanout:probe";
export const RECONCILE_TASK = "fanout:reconcile";
/** A connection test the CLI asked for (app_test_run): only a server process holds the app's credentials. */
export const TEST_TASK = "fanout:test";
/**
 * The guarantee behind a leaver the committing process delivers itself (fanout/delivery/leaver-fast-path.ts):
 * one job per leaver, run only if that process did not finish — it then adds the per-app jobs still owed.
 */
export const LEAVER_TASK = "fanout:leaver";

/** graphile-worker runs lower numbers first: leavers jump the queue, group syncs follow their users. */
export const PRIORITY = Object.freeze({ leaver: -10, user: 0, group: 1, maintenance: 5 });

/** graphile-worker's own attempts only cover unexpected task errors (e.g. the database went away). */
export const GW_MAX_ATTEMPTS = 25;

// Job keys. The keys of user, batch and group jobs are also built (or matched) by SQL statements that handle
// many rows at once (the outbox, the orphan sweep, crash recovery): those statements take the *Sql forms
// below, built from the same prefixes, so a key has one spelling (test/unit/fanout/job-keys.test.ts runs both).
const USER_KEY = "deliver:";
const BATCH_KEY_INFIX = ":batch:";
const GROUP_KEY = "group:";

export const userJobKey = (app: string, userId: string) => `${USER_KEY}${app}:${userId}`;
export const leaverJobKey = (userId: string) => `leaver:${userId}`;
export const groupJobKey = (app: string, groupId: string) => `${GROUP_KEY}${app}:${groupId}`;
export const probeJobKey = (app: string) => `probe:${app}`;
export const reconcileJobKey = (app: string) => `reconcile:${app}`;

/** userJobKey as an SQL text expression over two SQL text expressions (a column, a cast parameter). */
export const userJobKeySql = (app: string, userId: string) => `'${USER_KEY}' || ${app} || ':' || ${userId}`;
/** groupJobKey as an SQL text expression. */
export const groupJobKeySql = (app: string, groupId: string) => `'${GROUP_KEY}' || ${app} || ':' || ${groupId}`;

export interface UserJob { app: string; userId: string; attempt?: number }
export interface GroupJob { app: string; groupId: string; attempt?: number }
export interface ProbeJob { app: string }
export interface ReconcileJob { app: string; fix?: boolean; runId?: number; scheduled?: boolean }
export interface TestJob { app: string; runId: number }
export interface LeaverJob { userId: string; apps: string[] }

/** Re-adds a running job's key to run after `delayMs` (see header). */
export async function rescheduleJob(q: Q, task: string, jobKey: string, payload: unknown, delayMs: number, priority: number): Promise<void> {
  await addJobSpecs(q, [{ task, payload, key: jobKey, priority, delayMs: Math.max(0, Math.round(delayMs)) }], { preserveRunAt: true });
}

/** Makes the pending job of a key run now (replace mode resets run_at), or adds it. */
export async function nudgeJob(q: Q, task: string, jobKey: string, payload: unknown, priority: number): Promise<void> {
  await addJobSpecs(q, [{ task, payload, key: jobKey, priority }]);
}

/** Batch jobs (fanout/delivery/user-batch.ts): this many pending batch keys per app. */
export const BATCH_BUCKETS = 32;
/** Bucket of a user id: the low 5 bits of its first 32 — `(('x' || substr(id::text, 1, 8))::bit(32)::int & 31)` in SQL. */
export const bucketOf = (userId: string) => parseInt(userId.slice(0, 8), 16) & (BATCH_BUCKETS - 1);
export const batchJobKey = (app: string, bucket: number) => `${USER_KEY}${app}${BATCH_KEY_INFIX}${bucket}`;
/** batchJobKey as an SQL text expression (`bucket`: an SQL integer expression). */
export const batchJobKeySql = (app: string, bucket: string) => `'${USER_KEY}' || ${app} || '${BATCH_KEY_INFIX}' || ${bucket}`;

/**
 * `delayMs`: run no earlier than this long from now — the database's now(), the clock graphile-worker
 * compares run_at with, so a broker's own (possibly injected) clock never skews the queue.
 */
export interface JobSpecInput {
  task: string; payload: unknown; key: string; priority: number; delayMs?: number;
  /** a graphile-worker named queue: its jobs run one at a time, in order (e.g. one SSF stream's pushes) */
  queue?: string;
}

/**
 * graphile_worker.add_jobs, verified. add_jobs first clears the key of a *locked* job, then inserts with
 * ON CONFLICT (key) DO UPDATE … WHERE locked_at IS NULL; a worker that locks the pending job between those
 * two steps makes the spec vanish — no insert, no update, no error. For an outbox that would be a lost
 * change (measured: 2 in 4,400 HR writes under load). add_jobs returns the rows it wrote, so the specs it
 * skipped are added again: the second time the key belongs to a locked job and is cleared first.
 */
export async function addJobSpecs(q: Q, specs: readonly JobSpecInput[], opts: { preserveRunAt?: boolean } = {}): Promise<void> {
  let pending = specs;
  for (let round = 0; pending.length > 0; round++) {
    const { rows } = await q.query({ name: "fanout_add_jobs_v3", text:
      `SELECT j.key FROM graphile_worker.add_jobs(
         (SELECT array_agg(ROW(s.task, s.payload, s.queue, CASE WHEN s.delay_ms IS NULL THEN NULL ELSE now() + s.delay_ms * interval '1 millisecond' END, $6::int, s.key, s.priority, NULL)::graphile_worker.job_spec)
            FROM unnest($1::text[], $2::json[], $3::text[], $4::int[], $5::int[], $8::text[]) AS s(task, payload, key, priority, delay_ms, queue)), $7::boolean) AS j`,
      values: [pending.map((p) => p.task), pending.map((p) => JSON.stringify(p.payload)), pending.map((p) => p.key), pending.map((p) => p.priority),
        pending.map((p) => p.delayMs ?? null), GW_MAX_ATTEMPTS, opts.preserveRunAt ?? false, pending.map((p) => p.queue ?? null)] });
    const written = new Set(rows.map((r) => r.key as string));
    pending = pending.filter((p) => !written.has(p.key));
    if (round >= 3 && pending.length) throw new Error(`graphile-worker did not take ${pending.length} job(s): ${pending.map((p) => p.key).join(", ")}`);
  }
}

/** Specs for user deliveries: a leaver's key is its own, the others join their bucket's batch (one spec per bucket). */
export function userJobSpecs(items: ReadonlyArray<{ app: string; userId: string; leaver: boolean }>): JobSpecInput[] {
  const specs: JobSpecInput[] = [];
  const batches = new Map<string, UserJob[]>();
  for (const i of items) {
    if (i.leaver) specs.push({ task: USER_TASK, payload: { app: i.app, userId: i.userId }, key: userJobKey(i.app, i.userId), priority: PRIORITY.leaver });
    else {
      const key = batchJobKey(i.app, bucketOf(i.userId));
      batches.set(key, [...(batches.get(key) ?? []), { app: i.app, userId: i.userId }]);
    }
  }
  for (const [key, payload] of batches) specs.push({ task: USER_TASK, payload, key, priority: PRIORITY.user });
  return specs;
}

/** Enqueues user deliveries (in the caller's transaction when `q` is one). */
export async function enqueueUserJobs(q: Q, items: ReadonlyArray<{ app: string; userId: string; leaver: boolean }>): Promise<void> {
  if (items.length) await addJobSpecs(q, userJobSpecs(items));
}

/** Adds one group-sync job per app for one group. */
export async function enqueueGroupJobs(q: Q, groupId: string, apps: readonly string[]): Promise<void> {
  if (apps.length)
    await addJobSpecs(q, apps.map((app) => ({ task: GROUP_TASK, payload: { app, groupId } satisfies GroupJob, key: groupJobKey(app, groupId), priority: PRIORITY.group })));
}

/**
 * Re-enqueues, now, every account and group of an app whose delivery is owed (pending, quarantined): the
 * catch-up after a quarantine ends or an operator re-enables the app. Keyset-paged. Returns the count.
 */
export async function enqueueBacklog(q: Q, app: string, statuses: readonly string[] = ["pending", "quarantined"], opts: { retryingOnly?: boolean } = {}): Promise<number> {
  let total = 0;
  for (let after = "00000000-0000-0000-0000-000000000000"; ;) {
    // retryingOnly: those backing off after a failure (attempts > 0), not a backlog already queued.
    const { rows } = await q.query(
      `SELECT user_id, leaver FROM app_account WHERE app = $1 AND status = ANY($2::text[]) AND user_id > $3::uuid AND (NOT $4::boolean OR attempts > 0)
        ORDER BY user_id LIMIT 1000`,
      [app, statuses, after, opts.retryingOnly ?? false]);
    if (rows.length === 0) break;
    await enqueueUserJobs(q, rows.map((r) => ({ app, userId: r.user_id as string, leaver: r.leaver as boolean })));
    total += rows.length;
    after = rows[rows.length - 1].user_id;
  }
  const { rows } = await q.query(`SELECT group_id FROM app_group WHERE app = $1 AND status = ANY($2::text[]) AND (NOT $3::boolean OR attempts > 0)`, [app, statuses, opts.retryingOnly ?? false]);
  for (const r of rows) await enqueueGroupJobs(q, r.group_id, [app]);
  return total + rows.length;
}

/**
 * Safety net for "losing nothing": accounts and groups owed a delivery (pending, no lease) that have not
 * moved for `staleMs` and whose app is neither disabled nor quarantined are enqueued again. Normally there
 * are none; a non-zero count is logged. Duplicates are harmless (the delivery reads the current state,
 * and a state the app already confirmed costs no request).
 */
export async function enqueueOrphans(q: Q, staleMs: number, limit = 1000): Promise<number> {
  // An account is queued when a job has its own key (a leaver, a retry) or when it is an item of a batch
  // job's payload (user-batch.ts): the batch's key names a bucket, not a user. The batch items are read
  // once per sweep into a hashed set (a backlog of 100,000 owed deliveries is one pass over their payloads),
  // not looked up per account. The payload is in graphile-worker's private table only (its public `jobs`
  // view omits it), as for job-queue.ts's revision check.
  const { rows } = await q.query(
    `WITH batched AS MATERIALIZED (
       SELECT DISTINCT e ->> 'app' AS app, e ->> 'userId' AS user_id
         FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id AND t.identifier = '${USER_TASK}',
              json_array_elements(CASE WHEN json_typeof(j.payload) = 'array' THEN j.payload ELSE '[]' END) e)
     SELECT a.app, a.user_id, a.leaver FROM app_account a JOIN app_state s ON s.app = a.app AND NOT s.disabled AND NOT s.quarantined
      WHERE a.status = 'pending' AND a.lease_owner IS NULL AND a.updated_at < now() - $1 * interval '1 millisecond'
        AND NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.key = ${userJobKeySql("a.app", "a.user_id::text")})
        AND NOT EXISTS (SELECT 1 FROM batched b WHERE b.app = a.app AND b.user_id = a.user_id::text)
      LIMIT $2`, [staleMs, limit]);
  await enqueueUserJobs(q, rows.map((r) => ({ app: r.app as string, userId: r.user_id as string, leaver: r.leaver as boolean })));
  const groups = await q.query(
    `SELECT g.app, g.group_id FROM app_group g JOIN app_state s ON s.app = g.app AND NOT s.disabled AND NOT s.quarantined
      WHERE g.status = 'pending' AND g.lease_owner IS NULL AND g.updated_at < now() - $1 * interval '1 millisecond'
        AND NOT EXISTS (SELECT 1 FROM graphile_worker.jobs j WHERE j.key = ${groupJobKeySql("g.app", "g.group_id::text")})
      LIMIT $2`, [staleMs, limit]);
  for (const r of groups.rows) await enqueueGroupJobs(q, r.group_id, [r.app]);
  // Touch them so the next sweep does not take them again before their jobs had a chance.
  if (rows.length) await q.query(`UPDATE app_account SET updated_at = now() WHERE (app, user_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))`, [rows.map((r) => r.app), rows.map((r) => r.user_id)]);
  if (groups.rows.length) await q.query(`UPDATE app_group SET updated_at = now() WHERE (app, group_id) IN (SELECT * FROM unnest($1::text[], $2::uuid[]))`, [groups.rows.map((r) => r.app), groups.rows.map((r) => r.group_id)]);
  return rows.length + groups.rows.length;
}
