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
import * as processes from "./process-repository.ts";

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
    processes.setPoolId(this.d.pool, this.id, poolId).catch(() => { this.#pool = undefined; });
  }

  async tick(): Promise<void> {
    try {
      if (!this.#client) await this.#connect();
      await processes.heartbeat(this.d.pool, this.id);
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
    for (const other of await processes.otherProcesses(client, this.id)) {
      if (!(await processes.tryAdvisoryLock(client, other.lockKey))) continue;
      try {
        // its workers' jobs and leases (pool id), and its leaver fast path's leases (process id, leaver-fast-path.ts)
        await this.#release(other.poolId ? [other.poolId, other.id] : [other.id], `process ${other.id} died`);
        await processes.deleteProcess(client, other.id);
      } finally {
        await processes.advisoryUnlock(client, other.lockKey);
      }
    }
    const orphans = await processes.orphanedPools(client, ORPHAN_GRACE_MS, this.#pool ?? "");
    if (orphans.length) await this.#release(orphans, "locked by no live process");
  }

  async #release(poolIds: string[], why: string): Promise<void> {
    const { pool, log } = this.d;
    const jobs = await processes.lockedJobCount(pool, poolIds);
    // Superseded while running (key cleared, attempts forced to the maximum by add_jobs): one more run, now.
    const revived = await processes.reviveSuperseded(pool, poolIds);
    await processes.forceUnlockWorkers(pool, poolIds);
    const { leases, woken } = await processes.clearLeases(pool, poolIds);
    // Wake idle workers now rather than at their next poll.
    if (jobs + woken > 0) await processes.wakeWorkers(pool, jobs + woken);
    log.warn({ code: "FANOUT_WORKER_RECOVERED", pools: poolIds, jobs, revived, leases, woken, why }, "released jobs locked by a dead worker");
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.d.databaseUrl, application_name: `scim-broker fanout ${this.id.slice(0, 8)}` });
    client.on("error", () => {
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
    });
    await client.connect();
    try {
      await processes.advisoryLock(client, this.lockKey);
      await processes.registerProcess(client, { id: this.id, poolId: this.#pool ?? null, lockKey: this.lockKey, host: hostname(), pid: process.pid });
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
    await processes.deleteProcess(client, this.id).catch(() => {});
    await client.end().catch(() => {});
  }
}
