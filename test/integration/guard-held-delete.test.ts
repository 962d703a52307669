// A leaver held by the mass-deprovision guard changes nothing in any app until the review is approved —
// including a DELETE inside a mixed Bulk whose other operations make the apps' group syncs run: the held
// user stays in the app's groups (its broker memberships are parked with the hold, not dropped) and its
// account stays active; deny keeps it so; approve deprovisions it. Every "nothing happened" is read after
// an explicit signal: a later change of the same group reached the app.
import { expect } from "chai";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, isActiveIn, person, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";
import { BULK_REQUEST } from "../../src/scim/schemas.ts";

describe("guard: held deletions and the apps", function () {
  this.timeout(60_000);
  let app: StrictScimApp, b: FanoutBroker;
  before(async () => {
    app = await startStrictApp();
    b = await startFanoutBroker([{ name: "strict", app, groups: ["finance"] }], { guard: "{ maxUsers: 0, maxPercent: 100 }" });
  });
  after(async () => { await b?.stop(); await app?.stop(); });

  const financeMembers = () => {
    const g = [...app.groups.values()].find((x) => x.displayName === "finance");
    return g ? app.memberIds(g.id) : [];
  };
  const remoteId = (userName: string) => accountIn(app, userName)?.id as string;
  /** The explicit signal: a new Finance joiner reached the app's finance group (a group sync ran after what came before). */
  const joinerReachedApp = async (userName: string) => eventually(() => expect(financeMembers()).to.include(remoteId(userName)), 30_000);
  const bulk = (ops: unknown[]) => b.scim.post("/Bulk", { schemas: [BULK_REQUEST], Operations: ops });
  const pendingHold = async () => (await b.admin.get("/reviews", { kind: "mass-deprovision", status: "pending" })).body.items[0];

  it("when a DELETE is held inside a Bulk that also adds a Finance joiner, then the app keeps the user's account and finance membership; deny keeps them", async () => {
    const held = await b.create("held-del@example.com", { department: "Finance" });
    await joinerReachedApp("held-del@example.com");
    const res = await bulk([
      { method: "DELETE", path: `/Users/${held.id}` },
      { method: "POST", path: "/Users", bulkId: "j1", data: person("joiner1@example.com", { department: "Finance" }) },
    ]);
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["204", "201"]);
    expect((await b.scim.get(`/Users/${held.id}`)).status, "gone from SCIM as HR asked").to.equal(404);
    await joinerReachedApp("joiner1@example.com");
    expect(financeMembers(), "held: still in the app's finance group").to.include(remoteId("held-del@example.com"));
    expect(isActiveIn(accountIn(app, "held-del@example.com")), "held: account still active").to.equal(true);
    const parked = await b.db.query(`SELECT g.display_name FROM held_membership h JOIN scim_group g ON g.id = h.group_id WHERE h.user_id = $1`, [held.id]);
    expect(parked.rows.map((r) => r.display_name), "broker memberships parked with the hold").to.deep.equal(["finance"]);

    const hold = await pendingHold();
    expect(hold.held.map((h: any) => h.userId)).to.deep.equal([held.id]);
    expect((await b.admin.post(`/reviews/${hold.id}/deny`, { reason: "HR export bug" })).status).to.equal(200);
    await b.create("joiner2@example.com", { department: "Finance" });
    await joinerReachedApp("joiner2@example.com");
    expect(financeMembers(), "denied: still in the app's finance group").to.include(remoteId("held-del@example.com"));
    expect(isActiveIn(accountIn(app, "held-del@example.com"))).to.equal(true);
    expect((await b.db.query(`SELECT 1 FROM held_membership WHERE user_id = $1`, [held.id])).rowCount, "denied: memberships kept").to.equal(1);
  });

  it("when a held DELETE is approved, then the account is deprovisioned and leaves the app's group", async () => {
    const gone = await b.create("approved-del@example.com", { department: "Finance" });
    await joinerReachedApp("approved-del@example.com");
    const res = await bulk([
      { method: "DELETE", path: `/Users/${gone.id}` },
      { method: "POST", path: "/Users", bulkId: "j3", data: person("joiner3@example.com", { department: "Finance" }) },
    ]);
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["204", "201"]);
    await joinerReachedApp("joiner3@example.com");
    expect(financeMembers()).to.include(remoteId("approved-del@example.com"));
    const hold = await pendingHold();
    expect((await b.admin.post(`/reviews/${hold.id}/approve`, { reason: "offboarding confirmed" })).status).to.equal(200);
    await eventually(() => {
      expect(accountIn(app, "approved-del@example.com")!.active).to.equal(false);
      expect(financeMembers()).to.not.include(remoteId("approved-del@example.com"));
    }, 30_000);
    expect((await b.db.query(`SELECT 1 FROM held_membership WHERE user_id = $1`, [gone.id])).rowCount).to.equal(0);
  });
});
