// Exceptions (grant / keep / block, expiry by the sweep with a manual clock) and reviews (privileged
// grants denied, contractors without end date, service accounts without or losing their owner), through
// the admin API on a real broker.
import { expect } from "chai";
import { startLifecycleBroker, replace, HR, ENT, DAY, T0, type LifecycleBroker } from "./lifecycle-harness.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
    owner: controller@example.com
  - name: treasury
    when: department eq "Treasury" and active eq true
    privileged: true
    owner: cfo@example.com
  - name: vpn
    when: userType eq "Employee"
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("lifecycle: exceptions and reviews", () => {
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b.stop(); });

  const exception = (body: Record<string, unknown>) => b.admin.post("/exceptions", { reason: "project X", owner: "lead@example.com", ...body });
  const iso = (ms: number) => new Date(b.clock.now().getTime() + ms).toISOString();

  describe("exceptions", () => {
    it("when a grant is recorded, then the user is in the group at once, and when it expires the sweep takes them out", async () => {
      const u = await b.create({ department: "Sales" });
      const res = await exception({ user: u.userName, group: "finance", kind: "grant", expiresAt: iso(DAY) });
      expect(res.status).to.equal(201);
      expect(res.body.gained).to.deep.equal(["finance"]);
      expect(await b.rowsOf(u.id)).to.deep.equal(["finance:exception"]);
      const listed = (await b.admin.get("/exceptions", { user: u.id, open: "true" })).body.items;
      expect(listed.map((e: any) => e.id)).to.deep.equal([res.body.exception.id]);

      b.clock.advance(DAY - 1000);
      expect((await b.t.broker.lifecycle.sweep()).expired).to.equal(0);
      b.clock.advance(2000);
      expect((await b.t.broker.lifecycle.sweep()).expired).to.equal(1);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      const after = (await b.admin.get(`/exceptions/${res.body.exception.id}`)).body;
      expect(after.expiredAt).to.be.a("string");
      const audit = (await b.admin.get("/audit", { user: u.id, kind: "exception.expired" })).body.items;
      expect(audit).to.have.length(1);
    });

    it("when a keep holds a membership, then a mover keeps it, and revoking the keep applies the rule again", async () => {
      const u = await b.create({ department: "Finance" });
      const res = await exception({ user: u.id, group: "finance", kind: "keep", expiresAt: iso(7 * DAY) });
      expect(res.status).to.equal(201);
      await b.patch(u.id, [replace(`${ENT}:department`, "Sales")]);
      expect(await b.rowsOf(u.id)).to.deep.equal(["finance:exception"]);
      const revoked = await b.admin.del(`/exceptions/${res.body.exception.id}`, { reason: "handover done" });
      expect(revoked.status).to.equal(200);
      expect(revoked.body.lost).to.deep.equal(["finance"]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect((await b.admin.del(`/exceptions/${res.body.exception.id}`)).body.error.code).to.equal("CONFLICT");
    });

    it("when a block is recorded, then the rule membership goes, and when it expires the rule outcome returns", async () => {
      const u = await b.create({ department: "Finance" });
      const res = await exception({ user: u.id, group: "finance", kind: "block", expiresAt: iso(2 * DAY) });
      expect(res.body.lost).to.deep.equal(["finance"]);
      await b.patch(u.id, [replace("title", "Accountant")]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      b.clock.advance(3 * DAY);
      await b.t.broker.lifecycle.sweep();
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    });

    it("when a privileged group is granted, then an approver is required, and with one the grant needs no review", async () => {
      const u = await b.create({ department: "Sales" });
      const missing = await exception({ user: u.id, group: "treasury", kind: "grant" });
      expect(missing.status).to.equal(400);
      expect(missing.body.error.code).to.equal("BAD_REQUEST");
      const ok = await exception({ user: u.id, group: "treasury", kind: "grant", approver: "cfo@example.com" });
      expect(ok.status).to.equal(201);
      expect(await b.groupsOf(u.id)).to.deep.equal(["treasury"]);
    });

    it("when the request is wrong, then the error names it with a stable code", async () => {
      const u = await b.create({});
      expect((await exception({ user: u.id, group: "nope", kind: "grant" })).body.error.code).to.equal("BAD_REQUEST");
      expect((await exception({ user: "nobody@example.com", group: "finance", kind: "grant" })).body.error).to.include({ code: "NOT_FOUND" });
      expect((await exception({ user: u.id, group: "finance", kind: "maybe" })).status).to.equal(400);
      expect((await exception({ user: u.id, group: "finance", kind: "grant", expiresAt: "2020-01-01T00:00:00Z" })).status).to.equal(400);
      expect((await b.admin.post(`/reviews/00000000-0000-4000-8000-000000000000/approve`, { reason: "x" })).status).to.equal(404);
    });
  });

  describe("reviews", () => {
    it("when a privileged grant is denied, then a block records the refusal and the rule stops asking", async () => {
      const u = await b.create({ department: "Treasury" });
      const [review] = (await b.admin.get("/reviews", { user: u.id, kind: "privileged-grant" })).body.items;
      expect(review).to.include({ status: "pending", group: "treasury", owner: "cfo@example.com" });
      const missingReason = await b.admin.post(`/reviews/${review.id}/deny`, {});
      expect(missingReason.status).to.equal(400);
      const denied = await b.admin.post(`/reviews/${review.id}/deny`, { reason: "no business need" });
      expect(denied.body).to.include({ status: "denied", reason: "no business need" });
      const blocks = (await b.admin.get("/exceptions", { user: u.id })).body.items;
      expect(blocks).to.have.length(1);
      expect(blocks[0]).to.include({ kind: "block", group: "treasury", reviewId: review.id, approver: "token:test-admin" });
      await b.patch(u.id, [replace("title", "Treasurer")]);
      expect((await b.admin.get("/reviews", { user: u.id, status: "pending" })).body.items).to.deep.equal([]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
    });

    it("when a contractor has no end date, then a review asks for one, and it is acknowledged with a reason", async () => {
      const sponsor = await b.create({ department: "Finance", userType: "Employee" });
      const u = await b.create({ userType: "Contractor", sponsor: sponsor.id });
      const [review] = (await b.admin.get("/reviews", { user: u.id })).body.items;
      expect(review).to.include({ kind: "contractor-without-end-date", owner: sponsor.id });
      const ok = await b.admin.post(`/reviews/${review.id}/approve`, { reason: "open-ended retainer agreed" });
      expect(ok.body).to.include({ status: "approved", decidedBy: "token:test-admin" });
      // with an end date, no review
      const v = await b.create({ userType: "Contractor", endDate: new Date(T0.getTime() + 90 * DAY).toISOString() });
      expect((await b.admin.get("/reviews", { user: v.id })).body.items).to.deep.equal([]);
    });

    it("when a service account has no owner, then it is reviewed; when its owner leaves or moves, then it is reviewed again", async () => {
      const orphan = await b.create({ userType: "Service" });
      expect((await b.admin.get("/reviews", { user: orphan.id })).body.items.map((r: any) => r.kind)).to.deep.equal(["service-account-without-owner"]);

      const owner = await b.create({ department: "Finance", userType: "Employee" });
      const mover = await b.create({ department: "Finance", userType: "Employee" });
      const bot = await b.create({ userType: "Service", sponsor: owner.id });
      const bot2 = await b.create({ userType: "Service", manager: mover.id });
      expect((await b.admin.get("/reviews", { user: bot.id })).body.items).to.deep.equal([]);
      await b.patch(owner.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      const [left] = (await b.admin.get("/reviews", { user: bot.id })).body.items;
      expect(left).to.include({ kind: "owner-left", status: "pending" });
      expect(left.payload).to.include({ previousOwner: owner.id });
      await b.patch(mover.id, [replace(`${ENT}:department`, "Engineering")]);
      expect((await b.admin.get("/reviews", { user: bot2.id })).body.items.map((r: any) => r.kind)).to.deep.equal(["owner-moved"]);
    });

    it("when a user leaves, then their open exceptions are revoked and their pending access reviews cancelled", async () => {
      const u = await b.create({ department: "Treasury", userType: "Employee" });
      await exception({ user: u.id, group: "finance", kind: "grant" });
      await b.patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      const ex = (await b.admin.get("/exceptions", { user: u.id })).body.items;
      expect(ex[0].revokedAt).to.be.a("string");
      expect(ex[0].revokedBy).to.equal("lifecycle");
      const reviews = (await b.admin.get("/reviews", { user: u.id, status: "cancelled" })).body.items;
      expect(reviews.map((r: any) => r.kind)).to.deep.equal(["privileged-grant"]);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
    });
  });
});
