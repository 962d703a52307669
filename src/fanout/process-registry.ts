// Crash recovery for the job queue. graphile-worker leaves the jobs of a killed worker locked for four
// hours; a leaver must not wait that long. Each broker process running workers registers here and holds a
// session advisory lock (on a dedicated connection) for as long as it lives. Liveness is then exact: when a
// process dies — kill -9 included — PostgreSQL ends its session and the lock is free. At start and every
// sweep interval, each process tries the locks of the others: a lock it can take belongs to a dead process,
// whose jobs are released with graphile_worker.force_unlock_workers (its pool id) and whose delivery leases
// are cleared, so the next worker delivers at once. Jobs locked by a pool id no live process claims (a
// process that died before registering it) are released once they are older than a grace period.
//
// Limits: session advisory locks need a direct connection (not a transaction-pooling PgBouncer). A process
// that loses its connection but keeps running is treated as dead by the others; its in-flight deliveries
// may then run twice, which is harmless (every step is idempotent) but not free.
import pg from "pg";
import { randomBytes, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "../shared/logger.ts";

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

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#connect();
    await this.sweep();
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
    await pool.query(`SELECT graphile_worker.force_unlock_workers($1::text[])`, [poolIds]);
    const leases = await pool.query(
      `WITH a AS (UPDATE app_account SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[]) RETURNING 1),
            g AS (UPDATE app_group SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND split_part(lease_owner, '/', 1) = ANY($1::text[]) RETURNING 1)
       SELECT (SELECT count(*) FROM a)::int + (SELECT count(*) FROM g)::int AS n`, [poolIds]);
    // Wake idle workers now rather than at their next poll.
    if (rows[0].n > 0) await pool.query(`SELECT pg_notify('jobs:insert', $1)`, [JSON.stringify({ r: Math.random(), count: rows[0].n })]);
    log.warn({ code: "FANOUT_WORKER_RECOVERED", pools: poolIds, jobs: rows[0].n, leases: leases.rows[0].n, why }, "released jobs locked by a dead worker");
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
    await this.#sweeping?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    await client.query(`DELETE FROM fanout_process WHERE id = $1`, [this.id]).catch(() => {});
    await client.end().catch(() => {});
  }
}
