// Crash recovery for the job queue. graphile-worker leaves the jobs of a killed worker locked for four
// hours; a leaver must not wait that long. Each broker process running workers registers here and holds a
// session advisory lock (on a dedicated connection) for as long as it lives. Liveness is then exact: when a
// process dies — kill -9 included — PostgreSQL ends its session and the lock is free. At start and every
// sweep interval, each process tries the locks of the others: a lock it can take belongs to a dead process,
// whose jobs are released with graphile_worker.force_unlock_workers (its pool id) and whose delivery leases
// are cleared, so the next worker delivers at once. Jobs locked by a pool id no live process claims (a
// process that died before registering it) are released once they are older than a grace period.
//
// Releasing a dead process's work is more than unlocking its jobs:
//  - graphile-worker's add_jobs, when it meets a *running* job of the same key, clears that job's key and
//    sets its attempts to the maximum ("it will finish and must not retry"), then adds a fresh job. A batch
//    job superseded that way carries users the fresh job does not; if its process dies, the row would sit
//    at 25/25 attempts forever and those deliveries wait for the orphan sweep. Such rows get one more run.
//  - jobs that met the dead process's delivery lease were re-scheduled to the lease's expiry (minutes); once
//    the leases are cleared, the jobs of those keys run now.
// The broker runs this recovery before its own workers start (broker.ts), so a restarted process never
// waits on the leases of the process it replaces.
//
// Limits: session advisory locks need a direct connection (not a transaction-pooling PgBouncer). A process
// that loses its connection but keeps running is treated as dead by the others; its in-flight deliveries
// may then run twice, which is harmless (every step is idempotent) but not free.
import pg from "pg";
import { randomBytes, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "../../shared/logger.ts";
import { groupJobKeySql, userJobKeySql } from "../../jobs/fanout-jobs.ts";

/** A job locked by an unregistered pool id for longer than this is considered orphaned. */
const ORPHAN_GRACE_MS = 60_000;

export class ProcessRegistry {
  readonly id = randomUUID();
  /** Signed 63-bit key, as text for pg. */
  readonly lockKey = BigInt.asIntN(64, randomBytes(8).readBigUInt64BE() >> 1n).toString();
  #client: pg.Client | undefined;
  #pool: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly d: { databaseUrl: string; pool: pg.Pool; log: Logger; sweepIntervalMs: number }) {}

  /** Registers this process and releases what dead ones left; idempotent (a second call only sweeps). */
  async start(): Promise<void> {
    this.#stopped = false;
    if (!this.#client) await this.#connect();
    await this.sweep();
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.d.sweepIntervalMs);
    this.#timer.unref();
  }

  /** The graphile-worker pool id of this process (jobs' locked_by), learned from its first job. */
  notePool(poolId: string | null | undefined): void {
    if (!poolId || this.#pool === poolId) return;
    this.#pool = poolId;
    this.d.pool.query(`UPDATE fanout_process SET pool_id = $2 WHERE id = $1`, [this.id, poolId]).catch(() => { this.#pool = undefined; });
  }

  async tick(): Promise<void> {
    try {
      if (!this.#client) await this.#connect();
      await this.d.pool.query(`UPDATE fanout_process SET heartbeat_at = now() WHERE id = $1`, [this.id]);
      await this.sweep();
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, "fan-out process sweep failed; retrying at the next interval");
    }
  }

  /** Releases the jobs and leases of dead processes; returns when done (concurrent calls share one run). */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const { rows } = await client.query(`SELECT id, pool_id, lock_key::text AS lock_key FROM fanout_process WHERE id <> $1`, [this.id]);
    for (const other of rows) {
      const { rows: got } = await client.query(`SELECT pg_try_advisory_lock($1::bigint) AS free`, [other.lock_key]);
      if (!got[0].free) continue;
      try {
        if (other.pool_id) await this.#release([other.pool_id], `process ${other.id} died`);
        await client.query(`DELETE FROM fanout_process WHERE id = $1`, [other.id]);
      } finally {
        await client.query(`SELECT pg_advisory_unlock($1::bigint)`, [other.lock_key]);
      }
    }
    const { rows: orphans } = await client.query(
      `SELECT DISTINCT locked_by FROM graphile_worker.jobs
        WHERE locked_by IS NOT NULL AND locked_at < now() - $1 * interval '1 millisecond'
          AND locked_by NOT IN (SELECT pool_id FROM fanout_process WHERE pool_id IS NOT NULL)
          AND locked_by <> $2`,
      [ORPHAN_GRACE_MS, this.#pool ?? ""]);
    if (orphans.length) await this.#release(orphans.map((r) => r.locked_by as string), "locked by no live process");
  }

  async #release(poolIds: string[], why: string): Promise<void> {
    const { pool, log } = this.d;
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by = ANY($1::text[])`, [poolIds]);
    // Superseded while running (key cleared, attempts forced to the maximum by add_jobs): one more run, now.
    const revived = await pool.query(
      `UPDATE graphile_worker._private_jobs SET attempts = max_attempts - 1, run_at = least(run_at, now()), updated_at = now()
        WHERE locked_by = ANY($1::text[]) AND attempts >= max_attempts AND max_attempts > 1`, [poolIds]);
    await pool.query(`SELECT graphile_worker.force_unlock_workers($1::text[])`, [poolIds]);
    const leases = await pool.query(
      `WITH a AS (UPDATE app_account SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[])
                  RETURNING ${userJobKeySql("app", "user_id::text")} AS key),
            g AS (UPDATE app_group SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[])
                  RETURNING ${groupJobKeySql("app", "group_id::text")} AS key),
            k AS (SELECT key FROM a UNION ALL SELECT key FROM g),
            -- jobs that found these leases busy were re-scheduled to their expiry: they run now
            j AS (UPDATE graphile_worker._private_jobs SET run_at = now(), updated_at = now()
                   WHERE key IN (SELECT key FROM k) AND locked_at IS NULL AND run_at > now() RETURNING 1)
       SELECT (SELECT count(*) FROM k)::int AS n, (SELECT count(*) FROM j)::int AS woken`, [poolIds]);
    // Wake idle workers now rather than at their next poll.
    const wake = rows[0].n + leases.rows[0].woken;
    if (wake > 0) await pool.query(`SELECT pg_notify('jobs:insert', $1)`, [JSON.stringify({ r: Math.random(), count: wake })]);
    log.warn({ code: "FANOUT_WORKER_RECOVERED", pools: poolIds, jobs: rows[0].n, revived: revived.rowCount ?? 0, leases: leases.rows[0].n, woken: leases.rows[0].woken, why }, "released jobs locked by a dead worker");
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.d.databaseUrl, application_name: `scim-broker fanout ${this.id.slice(0, 8)}` });
    client.on("error", () => {
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
    });
    await client.connect();
    try {
      await client.query(`SELECT pg_advisory_lock($1::bigint)`, [this.lockKey]);
      await client.query(
        `INSERT INTO fanout_process (id, pool_id, lock_key, host, pid) VALUES ($1, $2, $3::bigint, $4, $5)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), pool_id = coalesce(EXCLUDED.pool_id, fanout_process.pool_id)`,
        [this.id, this.#pool ?? null, this.lockKey, hostname(), process.pid]);
    } catch (e) {
      await client.end().catch(() => {});
      throw e;
    }
    if (this.#stopped) { await client.end().catch(() => {}); return; }
    this.#client = client;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    await client.query(`DELETE FROM fanout_process WHERE id = $1`, [this.id]).catch(() => {});
    await client.end().catch(() => {});
  }
}
