// Crash recovery across processes: a delivery that found another process's lease busy is re-scheduled to
// the lease's expiry (minutes). When that process dies, the survivor's sweep clears its leases — and must
// run the jobs that were waiting on them now, not when the dead lease would have expired.
import { expect } from "chai";
import pg from "pg";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: jobs waiting on a dead process's lease", function () {
  this.timeout(60_000);
  let app: StrictScimApp, b: FanoutBroker, other: pg.Client;
  before(async () => {
    app = await startStrictApp();
    b = await startFanoutBroker([{ name: "strict", app }]);
    other = new pg.Client({ connectionString: b.t.databaseUrl });
    await other.connect();
  });
  after(async () => { await other?.end().catch(() => {}); await b?.stop(); await app?.stop(); });

  it("when the process holding a user's lease dies, then the job that waited on it runs within seconds", async () => {
    const user = await b.create("lease@example.com");
    await eventually(() => expect(accountIn(app, "lease@example.com")).to.not.equal(undefined));
    // Another broker process: registered, alive (its session holds its advisory lock), mid-delivery of this
    // user (its lease on the account row, for ten minutes).
    await other.query(`SELECT pg_advisory_lock(4242)`);
    await other.query(`INSERT INTO fanout_process (id, pool_id, lock_key, host, pid) VALUES ('other', 'pool-other', 4242, 'elsewhere', 1)`);
    await other.query(`UPDATE app_account SET lease_owner = 'pool-other/1', lease_until = now() + interval '10 minutes' WHERE user_id = $1`, [user.id]);

    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "displayName", value: "After The Crash" }]).expect(200);
    const key = `deliver:strict:${user.id}`;
    await eventually(async () => { // the signal: our delivery met the busy lease and waits for its expiry
      const { rows } = await b.db.query(`SELECT run_at > now() + interval '30 seconds' AS waiting FROM graphile_worker.jobs WHERE key = $1`, [key]);
      expect(rows[0]?.waiting).to.equal(true);
    });

    await other.end(); // the other process dies: PostgreSQL ends its session and frees its lock
    await eventually(() => expect(accountIn(app, "lease@example.com")!.displayName).to.equal("After The Crash"), 10_000);
  });
});
