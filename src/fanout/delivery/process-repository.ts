// SQL of crash recovery (process-registry.ts): fanout_process rows, the session advisory locks that prove a
// process alive, and the release of a dead process's jobs (graphile_worker) and delivery leases.
import type pg from "pg";
import { groupJobKeySql, userJobKeySql } from "../../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface ProcessRow { id: string; poolId: string | null; lockKey: string }

/** Registers (or refreshes) this process; the caller's session already holds its lock. */
export async function registerProcess(q: Q, p: ProcessRow & { host: string; pid: number }): Promise<void> {
  await q.query(
    `INSERT INTO fanout_process (id, pool_id, lock_key, host, pid) VALUES ($1, $2, $3::bigint, $4, $5)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), pool_id = coalesce(EXCLUDED.pool_id, fanout_process.pool_id)`,
    [p.id, p.poolId, p.lockKey, p.host, p.pid]);
}

export async function setPoolId(q: Q, id: string, poolId: string): Promise<void> {
  await q.query(`UPDATE fanout_process SET pool_id = $2 WHERE id = $1`, [id, poolId]);
}

export async function heartbeat(q: Q, id: string): Promise<void> {
  await q.query(`UPDATE fanout_process SET heartbeat_at = now() WHERE id = $1`, [id]);
}

export async function deleteProcess(q: Q, id: string): Promise<void> {
  await q.query(`DELETE FROM fanout_process WHERE id = $1`, [id]);
}

export async function otherProcesses(q: Q, id: string): Promise<ProcessRow[]> {
  const { rows } = await q.query(`SELECT id, pool_id, lock_key::text AS lock_key FROM fanout_process WHERE id <> $1`, [id]);
  return rows.map((r) => ({ id: r.id, poolId: r.pool_id, lockKey: r.lock_key }));
}

/** Session advisory locks (on the caller's dedicated connection). */
export async function advisoryLock(q: Q, key: string): Promise<void> {
  await q.query(`SELECT pg_advisory_lock($1::bigint)`, [key]);
}

export async function tryAdvisoryLock(q: Q, key: string): Promise<boolean> {
  const { rows } = await q.query(`SELECT pg_try_advisory_lock($1::bigint) AS free`, [key]);
  return rows[0].free;
}

export async function advisoryUnlock(q: Q, key: string): Promise<void> {
  await q.query(`SELECT pg_advisory_unlock($1::bigint)`, [key]);
}

/** Pool ids holding jobs locked longer than `graceMs` that no registered process claims (nor `ownPool`). */
export async function orphanedPools(q: Q, graceMs: number, ownPool: string): Promise<string[]> {
  const { rows } = await q.query(
    `SELECT DISTINCT locked_by FROM graphile_worker.jobs
      WHERE locked_by IS NOT NULL AND locked_at < now() - $1 * interval '1 millisecond'
        AND locked_by NOT IN (SELECT pool_id FROM fanout_process WHERE pool_id IS NOT NULL)
        AND locked_by <> $2`,
    [graceMs, ownPool]);
  return rows.map((r) => r.locked_by as string);
}

export async function lockedJobCount(q: Q, poolIds: readonly string[]): Promise<number> {
  const { rows } = await q.query(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by = ANY($1::text[])`, [poolIds]);
  return rows[0].n;
}

/** Jobs superseded while running (key cleared, attempts forced to the maximum by add_jobs): one more run, now. */
export async function reviveSuperseded(q: Q, poolIds: readonly string[]): Promise<number> {
  const revived = await q.query(
    `UPDATE graphile_worker._private_jobs SET attempts = max_attempts - 1, run_at = least(run_at, now()), updated_at = now()
      WHERE locked_by = ANY($1::text[]) AND attempts >= max_attempts AND max_attempts > 1`, [poolIds]);
  return revived.rowCount ?? 0;
}

export async function forceUnlockWorkers(q: Q, poolIds: readonly string[]): Promise<void> {
  await q.query(`SELECT graphile_worker.force_unlock_workers($1::text[])`, [poolIds]);
}

/**
 * Clears the delivery leases the pools held; the jobs that found those leases busy were re-scheduled to
 * their expiry: they run now. Returns the leases cleared and the jobs woken.
 */
export async function clearLeases(q: Q, poolIds: readonly string[]): Promise<{ leases: number; woken: number }> {
  const { rows } = await q.query(
    `WITH a AS (UPDATE app_account SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[])
                RETURNING ${userJobKeySql("app", "user_id::text")} AS key),
          g AS (UPDATE app_group SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[])
                RETURNING ${groupJobKeySql("app", "group_id::text")} AS key),
          k AS (SELECT key FROM a UNION ALL SELECT key FROM g),
          j AS (UPDATE graphile_worker._private_jobs SET run_at = now(), updated_at = now()
                 WHERE key IN (SELECT key FROM k) AND locked_at IS NULL AND run_at > now() RETURNING 1)
     SELECT (SELECT count(*) FROM k)::int AS n, (SELECT count(*) FROM j)::int AS woken`, [poolIds]);
  return { leases: rows[0].n, woken: rows[0].woken };
}

/** Wakes idle workers now rather than at their next poll (graphile-worker's LISTEN channel). */
export async function wakeWorkers(q: Q, count: number): Promise<void> {
  await q.query(`SELECT pg_notify('jobs:insert', $1)`, [JSON.stringify({ r: Math.random(), count })]);
}
