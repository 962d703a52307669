// Crash recovery across processes: a delivery that finds another process's lease busy looks again shortly,
// and keeps finding it busy while that process lives. When that process dies, the survivor's sweep clears
// its leases — and the job that waited on them must run within seconds, not when the dead lease (ten
// minutes) would have expired.
import { expect } from "chai";
import pg from "pg";
import request from "supertest";
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
    // The signal: our delivery met the busy lease and was deferred (more than once: it keeps looking).
    const deferred = async () => {
      const text = (await request(b.t.url).get("/metrics")).text;
      return Number(/broker_fanout_deliveries_total\{app="strict",outcome="deferred"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await deferred();
    await eventually(async () => expect(await deferred()).to.be.at.least(before + 2));
    expect(accountIn(app, "lease@example.com")!.displayName).to.not.equal("After The Crash");

    await other.end(); // the other process dies: PostgreSQL ends its session and frees its lock
    await eventually(() => expect(accountIn(app, "lease@example.com")!.displayName).to.equal("After The Crash"), 10_000);
  });
});
