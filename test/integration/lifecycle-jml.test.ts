// Joiner / mover / leaver through HTTP on real PostgreSQL, with the policy of examples/broker.yaml (guard
// relaxed: these tests are about single changes; lifecycle-guard.test.ts is about the guard).
import { expect } from "chai";
import { startLifecycleBroker, replace, HR, ENT, type LifecycleBroker } from "./lifecycle-harness.ts";
import { GROUP_SCHEMA } from "../helpers/scim.ts";

export const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
    owner: controller@example.com
  - name: engineering
    when: department eq "Engineering" and active eq true
    owner: cto@example.com
  - name: prod-admin
    when: department eq "Engineering" and title sw "SRE" and userType eq "Employee"
    privileged: true
    owner: security@example.com
  - name: all-staff-london
    when: location eq "London" and userType ne "Service"
    portable: true
    owner: facilities@example.com
  - name: contractors
    when: userType eq "Contractor" and active eq true
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("lifecycle: joiner, mover, leaver through SCIM", () => {
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b.stop(); });

  const events = async (id: string) => (await b.admin.get("/events", { user: id })).body.items.map((e: any) => e.kind).reverse();

  it("when the policy is loaded, then every managed group exists in /Groups with its name, members or not", async () => {
    for (const name of ["finance", "engineering", "prod-admin", "all-staff-london", "contractors"]) {
      const res = await b.scim.get("/Groups", { filter: `displayName eq "${name}"` });
      expect(res.body.totalResults, name).to.equal(1);
    }
    const policy = await b.admin.get("/policy");
    expect(policy.status).to.equal(200);
    expect(policy.body.groups.map((g: any) => g.name)).to.include("finance");
    expect(policy.body.guards.massDeprovision).to.deep.equal({ maxUsers: 1000, maxPercent: 100, windowMs: 3_600_000 });
  });

  it("when a user is created with department Finance, then the POST returns with them in finance (joiner)", async () => {
    const res = await b.scim.post("/Users", (await import("./lifecycle-harness.ts")).personBody({ department: "Finance", userType: "Employee" }));
    expect(res.status).to.equal(201);
    expect(res.body.groups.map((g: any) => g.display)).to.deep.equal(["finance"]);
    expect(await b.rowsOf(res.body.id)).to.deep.equal(["finance:rule"]);
    expect(await events(res.body.id)).to.deep.equal(["joiner"]);
    const { rows } = await b.db.query(`SELECT cause FROM group_member WHERE user_id = $1`, [res.body.id]);
    expect(rows[0].cause.rule).to.equal("finance");
    expect(rows[0].cause.policyVersion).to.match(/^[0-9a-f]{16}$/);
  });

  it("when a PATCH moves them to Engineering, then the same request takes them out of finance and into engineering (mover)", async () => {
    const u = await b.create({ department: "Finance", userType: "Employee", title: "Analyst" });
    const res = await b.scim.patch(`/Users/${u.id}`, [replace(`${ENT}:department`, "Engineering")]);
    expect(res.status).to.equal(200);
    expect(res.body.groups.map((g: any) => g.display)).to.deep.equal(["engineering"]);
    expect(await events(u.id)).to.deep.equal(["joiner", "mover"]);
  });

  it("when a mover reaches a privileged group, then it waits for the owner's approval and approving adds it", async () => {
    const u = await b.create({ department: "Engineering", userType: "Employee", title: "Developer" });
    await b.patch(u.id, [replace("title", "SRE II")]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["engineering"]);
    const pending = (await b.admin.get("/reviews", { status: "pending", user: u.id })).body.items;
    expect(pending).to.have.length(1);
    expect(pending[0]).to.include({ kind: "privileged-grant", group: "prod-admin", owner: "security@example.com" });
    // the next HR change does not ask again
    await b.patch(u.id, [replace("displayName", "Sam SRE")]);
    expect((await b.admin.get("/reviews", { status: "pending", user: u.id })).body.items).to.have.length(1);
    const approved = await b.admin.post(`/reviews/${pending[0].id}/approve`, { reason: "on call rota" });
    expect(approved.status).to.equal(200);
    expect(approved.body).to.include({ status: "approved", reason: "on call rota" });
    expect(await b.groupsOf(u.id)).to.deep.equal(["engineering", "prod-admin"]);
    const again = await b.admin.post(`/reviews/${pending[0].id}/approve`, { reason: "twice" });
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal("CONFLICT");
  });

  it("when a user is terminated, then the same request disables them and empties every managed group (leaver)", async () => {
    const u = await b.create({ department: "Finance", userType: "Employee", location: "London" });
    const finance = await b.groupId("finance");
    // a manual membership of a managed group is access too; an unmanaged group is not the rules' business
    const club = await b.scim.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `book-club-${Date.now()}`, members: [{ value: u.id }] });
    await b.scim.patch(`/Groups/${await b.groupId("contractors")}`, [{ op: "add", path: "members", value: [{ value: u.id }] }]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["all-staff-london", club.body.displayName, "contractors", "finance"].sort());
    const res = await b.scim.patch(`/Users/${u.id}`, [replace(`${HR}:employmentStatus`, "terminated")]);
    expect(res.status).to.equal(200);
    expect(res.body.groups.map((g: any) => g.display)).to.deep.equal([club.body.displayName]);
    const after = await b.scim.get(`/Users/${u.id}`);
    expect(after.body.active).to.equal(false);
    expect(after.body[HR].employmentStatus).to.equal("terminated");
    expect(await events(u.id)).to.deep.equal(["joiner", "leaver"]);
    const members = (await b.scim.get(`/Groups/${finance}`)).body.members ?? [];
    expect(members.map((m: any) => m.value)).to.not.include(u.id);
  });

  it("when HR deactivates a user, then it is a leaver too and every managed membership goes", async () => {
    const u = await b.create({ department: "Engineering", userType: "Employee", location: "London" });
    const res = await b.scim.patch(`/Users/${u.id}`, [replace("active", false)]);
    expect(res.body.groups).to.deep.equal([]);
    const [leaver] = (await b.admin.get("/events", { user: u.id })).body.items;
    expect(leaver).to.deep.include({ kind: "leaver", cause: "hr", details: { reason: "deactivated" } });
  });

  it("when a user is deleted, then it is a leaver: memberships removed and the event recorded", async () => {
    const u = await b.create({ department: "Finance" });
    expect((await b.scim.del(`/Users/${u.id}`)).status).to.equal(204);
    const evs = (await b.admin.get("/events", { limit: 500 })).body.items.filter((e: any) => e.userId === u.id);
    expect(evs.map((e: any) => e.kind)).to.deep.equal(["leaver", "joiner"]);
    expect(evs[0].details).to.deep.equal({ reason: "deleted" });
    const audit = await b.admin.get("/audit", { user: u.id });
    expect(audit.body.items.map((e: any) => e.kind)).to.include("membership.removed");
  });

  it("when a user goes on leave and returns, then memberships are kept during the leave and follow the rules on return", async () => {
    const u = await b.create({ department: "Finance", location: "London", userType: "Employee" });
    await b.patch(u.id, [replace(`${HR}:employmentStatus`, "leave"), replace("active", false)]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["all-staff-london", "finance"]);
    await b.patch(u.id, [replace(`${HR}:employmentStatus`, "active"), replace("active", true), replace(`${ENT}:department`, "Engineering")]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["all-staff-london", "engineering"]);
    expect(await events(u.id)).to.deep.equal(["joiner", "leave", "return", "mover"]);
  });

  it("when a leaver is rehired, then the rules apply again (rehire)", async () => {
    const u = await b.create({ department: "Finance", userType: "Employee" });
    await b.patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
    expect(await b.groupsOf(u.id)).to.deep.equal([]);
    await b.patch(u.id, [replace(`${HR}:employmentStatus`, "active"), replace("active", true)]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    expect(await events(u.id)).to.deep.equal(["joiner", "leaver", "rehire"]);
  });

  it("when a contractor converts to an employee, then contractor groups go and the conversion is recorded", async () => {
    const u = await b.create({ department: "Finance", userType: "Contractor", endDate: "2027-01-01T00:00:00Z" });
    expect(await b.groupsOf(u.id)).to.deep.equal(["contractors", "finance"]);
    await b.patch(u.id, [replace("userType", "Employee")]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    expect(await events(u.id)).to.deep.equal(["joiner", "conversion"]);
  });

  it("when a mover leaves a portable group's condition, then the membership stays and the owner is asked to confirm it", async () => {
    const u = await b.create({ department: "Finance", location: "London", userType: "Employee" });
    await b.patch(u.id, [replace(`${HR}:location`, "Paris"), replace(`${ENT}:department`, "Engineering")]);
    expect(await b.groupsOf(u.id)).to.deep.equal(["all-staff-london", "engineering"]);
    const reviews = (await b.admin.get("/reviews", { user: u.id, kind: "mover" })).body.items;
    expect(reviews).to.have.length(1);
    expect(reviews[0]).to.include({ group: "all-staff-london", owner: "facilities@example.com", status: "pending" });
    // the owner disagrees: the membership goes and is blocked
    const denied = await b.admin.post(`/reviews/${reviews[0].id}/deny`, { reason: "moved to the Paris office" });
    expect(denied.status).to.equal(200);
    expect(await b.groupsOf(u.id)).to.deep.equal(["engineering"]);
  });

  it("when HR adds someone to a managed group by hand, then the membership is manual and survives a mover", async () => {
    const u = await b.create({ department: "Finance", userType: "Employee" });
    await b.scim.patch(`/Groups/${await b.groupId("engineering")}`, [{ op: "add", path: "members", value: [{ value: u.id }] }]);
    expect(await b.rowsOf(u.id)).to.deep.equal(["engineering:manual", "finance:rule"]);
    await b.patch(u.id, [replace(`${ENT}:department`, "Sales")]);
    expect(await b.rowsOf(u.id)).to.deep.equal(["engineering:manual"]);
    const audit = (await b.admin.get("/audit", { user: u.id })).body.items;
    const manual = audit.find((e: any) => e.kind === "membership.added" && e.groupName === "engineering");
    expect(manual.details).to.include({ source: "manual" });
  });

  it("when entitlements change, then each audit row names its cause and the chain verifies", async () => {
    const u = await b.create({ department: "Finance", userType: "Employee" });
    await b.patch(u.id, [replace(`${ENT}:department`, "Engineering")]);
    const items = (await b.admin.get("/audit", { user: u.id })).body.items;
    const added = items.filter((e: any) => e.kind === "membership.added").map((e: any) => [e.groupName, e.cause.rule, typeof e.cause.changeId]);
    expect(added).to.deep.equal([["finance", "finance", "number"], ["engineering", "engineering", "number"]]);
    const removed = items.find((e: any) => e.kind === "membership.removed");
    expect(removed).to.deep.include({ groupName: "finance" });
    expect(removed.cause.policyVersion).to.match(/^[0-9a-f]{16}$/);
    expect(items.filter((e: any) => e.kind === "lifecycle.event").map((e: any) => e.details.event)).to.deep.equal(["joiner", "mover"]);
    const verify = await b.admin.post("/audit/verify");
    expect(verify.status).to.equal(200);
    expect(verify.body.ok).to.equal(true);
    expect(verify.body.checked).to.be.greaterThan(10);
  });
});
