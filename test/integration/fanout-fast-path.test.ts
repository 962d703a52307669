// The leaver fast path (src/fanout/delivery/leaver-fast-path.ts): the broker process that commits a leaver
// delivers every app itself at once; one guarantee job per leaver stands behind it and is removed once every
// app is settled. Real apps on loopback, real PostgreSQL; assertions on the apps, the queue and the metrics.
import { expect } from "chai";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { addJobSpecs, LEAVER_TASK, leaverJobKey, PRIORITY } from "../../src/jobs/fanout-jobs.ts";
import { removeLeaverGuard } from "../../src/fanout/delivery/outbox-repository.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: the leaver fast path", function () {
  this.timeout(60_000);
  let a1: StrictScimApp, a2: StrictScimApp, flaky: QuirkyScimApp;
  let b: FanoutBroker;

  before(async () => {
    [a1, a2, flaky] = [await startStrictApp(), await startStrictApp(), await startQuirkyApp()];
    b = await startFanoutBroker([{ name: "a1", app: a1 }, { name: "a2", app: a2 }, { name: "flaky", app: flaky }]);
  });
  after(async () => {
    await b?.stop();
    await Promise.all([a1?.stop(), a2?.stop(), flaky?.stop()]);
  });

  const fastPath = async () => {
    const text = await (await fetch(`${b.t.url}/metrics`)).text();
    const n = (outcome: string) => Number(text.match(new RegExp(`broker_fanout_leaver_fast_path_total\\{outcome="${outcome}"\\} (\\d+)`))?.[1] ?? 0);
    const slaCount = Number(text.match(/broker_leaver_sla_seconds_count (\d+)/)?.[1] ?? 0);
    return { settled: n("settled"), handedOver: n("handed-over"), failed: n("failed"), slaCount };
  };
  const jobsOf = async (userId: string) => (await b.db.query(
    `SELECT key, task_identifier AS task FROM graphile_worker.jobs WHERE key = $1 OR key LIKE $2 ORDER BY key`, [leaverJobKey(userId), `deliver:%:${userId}`])).rows;
  const joined = async (userName: string) => {
    const user = await b.create(userName);
    await eventually(() => { for (const app of [a1, a2, flaky]) expect(isActiveIn(accountIn(app, userName)), app.url).to.equal(true); });
    return user;
  };
  const leave = async (userId: string) => expect((await b.scim.patch(`/Users/${userId}`, [{ op: "replace", path: "active", value: false }])).status).to.equal(200);

  it("when HR makes a user a leaver, then the committing process disables every app itself and removes the guarantee job: no job per app", async () => {
    const user = await joined("fast1@example.com");
    const before = await fastPath();
    await leave(user.id);
    await eventually(async () => expect((await fastPath()).settled).to.equal(before.settled + 1));
    for (const app of [a1, a2, flaky]) expect(isActiveIn(accountIn(app, "fast1@example.com")), app.url).to.equal(false);
    expect(await jobsOf(user.id), "neither the guarantee job nor a job per app is left").to.deep.equal([]);
    const sla = (await b.admin.get(`/users/${user.id}/apps`)).body.leaverSla[0];
    expect(sla.completedAt, "the leaver SLA is closed").to.be.a("string");
    expect(sla.appsTotal).to.equal(3);
    // the three outcomes were recorded in one statement: each app confirmed and audited, the SLA observed once
    const { rows: accounts } = await b.db.query(`SELECT app, status, lease_owner FROM app_account WHERE user_id = $1 ORDER BY app`, [user.id]);
    expect(accounts).to.deep.equal(["a1", "a2", "flaky"].map((app) => ({ app, status: "deprovisioned", lease_owner: null })));
    const { rows: audited } = await b.db.query(`SELECT app, (cause->>'changeId') IS NOT NULL AS has_cause FROM audit_event WHERE user_id = $1 AND kind = 'app.deprovisioned' ORDER BY app`, [user.id]);
    expect(audited).to.deep.equal(["a1", "a2", "flaky"].map((app) => ({ app, has_cause: true })));
    expect((await fastPath()).slaCount).to.equal(before.slaCount + 1);
  });

  it("when an app fails during the fast path, then that app's key goes to its own job, the guarantee job stays, and the app is disabled once it answers again", async () => {
    const user = await joined("fast2@example.com");
    const before = await fastPath();
    flaky.faults.unavailable = true;
    try {
      await leave(user.id);
      await eventually(async () => expect((await fastPath()).handedOver).to.equal(before.handedOver + 1));
      for (const app of [a1, a2]) expect(isActiveIn(accountIn(app, "fast2@example.com")), app.url).to.equal(false);
      const keys = (await jobsOf(user.id)).map((j) => j.key);
      expect(keys, "the failing app's own job, and the guarantee").to.include(`deliver:flaky:${user.id}`);
    } finally {
      flaky.faults.unavailable = false;
    }
    await eventually(() => expect(isActiveIn(accountIn(flaky, "fast2@example.com"))).to.equal(false));
    await eventually(async () => expect(await jobsOf(user.id)).to.deep.equal([]));
  });

  it("when a newer change of the user's is pending, then the guarantee job is not removed; at the version it wants, it is", async () => {
    const user = await joined("fast3@example.com");
    const { rows } = await b.db.query(`SELECT app, desired_version FROM app_account WHERE user_id = $1 ORDER BY app`, [user.id]);
    const settled = rows.map((r) => ({ app: r.app as string, version: r.desired_version as number }));
    await addJobSpecs(b.db, [{ task: LEAVER_TASK, payload: { userId: user.id, apps: [] }, key: leaverJobKey(user.id), priority: PRIORITY.leaver, delayMs: 60_000 }]);
    await b.db.query(`UPDATE app_account SET desired_version = desired_version + 1 WHERE user_id = $1 AND app = 'a2'`, [user.id]);
    expect(await removeLeaverGuard(b.db, user.id, settled, settled.length)).to.equal(false);
    expect((await jobsOf(user.id)).map((j) => j.task)).to.deep.equal([LEAVER_TASK]);
    expect(await removeLeaverGuard(b.db, user.id, settled.slice(0, 2), settled.length), "not every app settled").to.equal(false);
    const current = settled.map((s) => (s.app === "a2" ? { ...s, version: s.version + 1 } : s));
    expect(await removeLeaverGuard(b.db, user.id, current, current.length)).to.equal(true);
    expect(await jobsOf(user.id)).to.deep.equal([]);
  });
});
