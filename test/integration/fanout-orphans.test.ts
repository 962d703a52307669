// The orphan sweep (src/jobs/fanout-jobs.ts enqueueOrphans): an owed delivery is queued when a job holds
// it under its own key (a leaver, a retry) or as an item of its bucket's batch job (the key names the
// bucket, not the user). Only a delivery in neither is enqueued again and counted. On real PostgreSQL with
// graphile-worker's schema; staleMs 0 so every pending row is old enough.
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createTestPool } from "../helpers/db.ts";
import { batchJobKey, bucketOf, enqueueOrphans, enqueueUserJobs, userJobKey } from "../../src/jobs/fanout-jobs.ts";

describe("fan-out: the orphan sweep", function () {
  let db: Awaited<ReturnType<typeof createTestPool>>;
  let pool: pg.Pool;
  before(async () => { db = await createTestPool(3); pool = db.pool; });
  after(async () => { await db?.close(); });

  /**
   * An app of its own and `n` pending accounts in it. The sweep counts over the whole database: each test
   * leaves every owed delivery of its app in a job, so the next one's count is its own.
   */
  const owed = async (app: string, n: number, leaver = false) => {
    await pool.query(`INSERT INTO app_state (app) VALUES ($1) ON CONFLICT DO NOTHING`, [app]);
    const ids = Array.from({ length: n }, () => randomUUID());
    await pool.query(`INSERT INTO app_account (app, user_id, user_name, status, leaver, updated_at)
      SELECT $1, u, 'u-' || u, 'pending', $3, now() - interval '1 hour' FROM unnest($2::uuid[]) u`, [app, ids, leaver]);
    return ids;
  };
  const queuedItems = async (app: string) => (await pool.query(
    `SELECT j.key, j.payload FROM graphile_worker._private_jobs j WHERE j.key LIKE $1 ORDER BY j.key`, [`deliver:${app}:%`])).rows;

  it("when every owed delivery is in its bucket's batch job, then nothing is re-enqueued", async () => {
    const ids = await owed("orph-batched", 40);
    await enqueueUserJobs(pool, ids.map((userId) => ({ app: "orph-batched", userId, leaver: false })));
    const before = await queuedItems("orph-batched");
    expect(await enqueueOrphans(pool, 0)).to.equal(0);
    expect(await queuedItems("orph-batched")).to.deep.equal(before);
  });

  it("when a leaver's own job is queued, then it is not an orphan", async () => {
    const [id] = await owed("orph-leaver", 1, true);
    await enqueueUserJobs(pool, [{ app: "orph-leaver", userId: id!, leaver: true }]);
    expect(await enqueueOrphans(pool, 0)).to.equal(0);
    expect((await queuedItems("orph-leaver")).map((j) => j.key)).to.deep.equal([userJobKey("orph-leaver", id!)]);
  });

  it("when an owed delivery is in no job, then it is enqueued again into its bucket, and counted once", async () => {
    const ids = await owed("orph-lost", 3);
    await enqueueUserJobs(pool, ids.slice(0, 2).map((userId) => ({ app: "orph-lost", userId, leaver: false })));
    const lost = ids[2]!;
    expect(await enqueueOrphans(pool, 0)).to.equal(1);
    const bucket = (await queuedItems("orph-lost")).find((j) => j.key === batchJobKey("orph-lost", bucketOf(lost)));
    expect(bucket?.payload, "the lost delivery is an item of its bucket's job").to.deep.include({ app: "orph-lost", userId: lost });
    expect(await enqueueOrphans(pool, 0), "the next sweep finds it queued").to.equal(0);
  });
});
