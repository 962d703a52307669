// The mass-deprovision guard and the apps: while lifecycle holds a leaver for review, its app accounts stay
// as they are — even when other jobs for that user run — and approving the review deprovisions them.
import { expect } from "chai";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

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
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "displayName", value: "Still Held" }]).expect(200);
    await new Promise((r) => setTimeout(r, 1000)); // the held account must stay untouched over an interval
    expect(isActiveIn(accountIn(app, "held@example.com")), "held: not deprovisioned").to.equal(true);

    const reviews = await b.admin.get("/reviews", { status: "pending" }).expect(200);
    const item = reviews.body.items.find((r: any) => r.kind === "mass-deprovision");
    expect(item, JSON.stringify(reviews.body)).to.not.equal(undefined);
    await b.admin.post(`/reviews/${item.id}/approve`, { reason: "confirmed with HR" }).expect(200);
    await eventually(() => expect(accountIn(app, "held@example.com")!.active).to.equal(false));
  });
});
