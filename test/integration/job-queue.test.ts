// The job queue's own guard (src/jobs/job-queue.ts requeueIfRevised): a change merged into a job while a
// worker ran it is queued again under its key, not deleted with the job. On real PostgreSQL with
// graphile-worker's schema; the merge is made the way add_jobs makes it (payload and revision of the row).
import { expect } from "chai";
import pg from "pg";
import { createTestPool } from "../helpers/db.ts";
import { addJob, requeueIfRevised } from "../../src/jobs/job-queue.ts";

describe("job queue: a change merged into a running job", function () {
  let db: Awaited<ReturnType<typeof createTestPool>>;
  let pool: pg.Pool;
  before(async () => { db = await createTestPool(3); pool = db.pool; });
  after(async () => { await db?.close(); });

  /** Adds a keyed job and locks it as a worker does; returns the job as the worker saw it. */
  const running = async (key: string, payload: object) => {
    await addJob(pool, "t:test", payload, { jobKey: key, priority: -10, maxAttempts: 7 });
    const { rows } = await pool.query(
      `UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'worker-under-test' WHERE key = $1
       RETURNING id, revision, key, priority, max_attempts, 't:test' AS task_identifier`, [key]);
    return rows[0];
  };
  const jobsOf = async (key: string) => (await pool.query(
    `SELECT j.key, j.payload, j.priority, j.max_attempts, j.locked_at IS NOT NULL AS locked FROM graphile_worker._private_jobs j WHERE j.key = $1`, [key])).rows;

  it("when the job's revision moved while it ran, then its newer payload is queued again under the key, unlocked", async () => {
    const job = await running("k:merged", { v: 1 });
    await pool.query(`UPDATE graphile_worker._private_jobs SET payload = '{"v":2}', revision = revision + 1 WHERE id = $1`, [job.id]);
    expect(await requeueIfRevised(pool, job)).to.equal(true);
    expect(await jobsOf("k:merged")).to.deep.equal([{ key: "k:merged", payload: { v: 2 }, priority: -10, max_attempts: 7, locked: false }]);
    const old = (await pool.query(`SELECT key FROM graphile_worker._private_jobs WHERE id = $1`, [job.id])).rows[0];
    expect(old.key, "the running row gave its key to the fresh one").to.equal(null);
  });

  it("when nothing was merged, then nothing is added", async () => {
    const job = await running("k:same", { v: 1 });
    expect(await requeueIfRevised(pool, job)).to.equal(false);
    expect((await jobsOf("k:same")).map((j) => j.locked)).to.deep.equal([true]);
  });

  it("when the merge has not committed yet, then the check waits for it and sees it", async () => {
    const job = await running("k:late", { v: 1 });
    const merger = await pool.connect();
    try {
      await merger.query("BEGIN");
      await merger.query(`UPDATE graphile_worker._private_jobs SET payload = '{"v":3}', revision = revision + 1 WHERE id = $1`, [job.id]);
      const check = requeueIfRevised(pool, job);
      // the check is blocked on the merge's row lock: the row is locked by another backend until COMMIT
      await waitForLockWait(pool);
      await merger.query("COMMIT");
      expect(await check).to.equal(true);
    } finally { merger.release(); }
    expect((await jobsOf("k:late")).map((j) => j.payload)).to.deep.equal([{ v: 3 }]);
  });
});

/** Resolves once some backend of this database waits for a row lock (pg_locks), i.e. the check is blocked. */
async function waitForLockWait(pool: pg.Pool): Promise<void> {
  for (;;) {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    if (rows[0].n > 0) return;
  }
}
