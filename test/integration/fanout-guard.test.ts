// The mass-deprovision guard and the apps: while lifecycle holds a leaver for review, its app accounts stay
// as they are — even when other jobs for that user run — and approving the review deprovisions them.
import { expect } from "chai";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { nudgeJob, PRIORITY, USER_TASK, userJobKey } from "../../src/jobs/fanout-jobs.ts";
import { accountIn, eventually, isActiveIn, metric, queuedJobs, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: leavers held by the mass-deprovision guard", function () {
  this.timeout(60_000);
  let app: StrictScimApp, b: FanoutBroker;

  before(async () => {
    app = await startStrictApp();
    b = await startFanoutBroker([{ name: "strict", app }], { guard: "{ maxUsers: 0, maxPercent: 100 }" });
  });
  after(async () => {
    await b?.stop();
    await app?.stop();
  });

  it("when a leaver is held, then its accounts stay until the review is approved, then they are disabled", async () => {
    const user = await b.create("held@example.com");
    await eventually(() => expect(isActiveIn(accountIn(app, "held@example.com"))).to.equal(true));
    const held = () => metric(b.t.url, "broker_fanout_deliveries_total", { app: "strict", outcome: "held" });
    const account = async () => (await b.db.query(`SELECT status, desired_version, delivered_version FROM app_account WHERE app = 'strict' AND user_id = $1`, [user.id])).rows[0];
    await eventually(async () => expect(await queuedJobs(b.db, "deliver:strict:", user.id), "the joiner's delivery is done").to.deep.equal([]));
    const heldBefore = await held();
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "displayName", value: "Still Held" }]).expect(200);
    // The guard decided inside the PATCHes' transactions (the outbox commits with them): the user is held,
    // nothing is owed to the app, and no delivery was queued.
    const state = await b.db.query(`SELECT status FROM lifecycle_state WHERE user_id = $1`, [user.id]);
    expect(state.rows[0]?.status, "lifecycle state").to.equal("held");
    const owed = await account();
    expect(owed.status, "app account").to.equal("delivered");
    expect(owed.desired_version, "no new desired state for the app").to.equal(owed.delivered_version);
    expect(await queuedJobs(b.db, "deliver:strict:", user.id), "no delivery queued").to.deep.equal([]);
    // A delivery that does run for this user (a sweep, a reconcile, a replay) sees the hold and leaves the account.
    await nudgeJob(b.db, USER_TASK, userJobKey("strict", user.id), { app: "strict", userId: user.id }, PRIORITY.leaver);
    await eventually(async () => {
      expect(await held(), "the delivery ran and decided: held").to.equal(heldBefore + 1);
      expect(await queuedJobs(b.db, "deliver:strict:", user.id), "and is done").to.deep.equal([]);
    });
    expect(isActiveIn(accountIn(app, "held@example.com")), "held: not deprovisioned").to.equal(true);
    expect(accountIn(app, "held@example.com")!.displayName, "held: not updated either").to.not.equal("Still Held");
    expect((await account()).status, "the account row is left as it was").to.equal("delivered");

    const reviews = await b.admin.get("/reviews", { status: "pending" }).expect(200);
    const item = reviews.body.items.find((r: any) => r.kind === "mass-deprovision");
    expect(item, JSON.stringify(reviews.body)).to.not.equal(undefined);
    await b.admin.post(`/reviews/${item.id}/approve`, { reason: "confirmed with HR" }).expect(200);
    await eventually(() => expect(accountIn(app, "held@example.com")!.active).to.equal(false));
  });
});
