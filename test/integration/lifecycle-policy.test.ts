// Policy as code through the admin API: validation errors with file and line, and plan == apply — the
// plan's gains, losses and reviews are exactly the membership rows the apply then changes.
import { expect } from "chai";
import { startLifecycleBroker, replace, HR, DAY, T0, type LifecycleBroker } from "./lifecycle-harness.ts";

const P1 = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: london
    when: location eq "London"
    portable: true
  - name: legacy
    when: title eq "Clerk"
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;
const P2 = `
groups:
  - name: finance
    when: (department eq "Finance" or department eq "Treasury") and active eq true
  - name: london
    when: location eq "London"
    portable: true
  - name: prod-admin
    when: title sw "SRE"
    privileged: true
  - name: everyone
    when: active eq true and userType ne "Service"
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("lifecycle: policy validate, plan and apply", () => {
  let b: LifecycleBroker;
  const u: Record<string, any> = {};
  before(async () => {
    b = await startLifecycleBroker(P1);
    u.a = await b.create({ userName: "a@example.com", department: "Finance", location: "London" });
    u.b = await b.create({ userName: "b@example.com", department: "Treasury", title: "SRE I" });
    u.c = await b.create({ userName: "c@example.com", department: "Ops", title: "Clerk" });
    await b.scim.patch(`/Groups/${await b.groupId("legacy")}`, [{ op: "add", path: "members", value: [{ value: u.c.id }] }]);
    u.d = await b.create({ userName: "d@example.com", department: "Treasury", employmentStatus: "terminated" });
    u.e = await b.create({ userName: "e@example.com", department: "Finance" });
    await b.patch(u.e.id, [replace(`${HR}:employmentStatus`, "leave")]);
    u.f = await b.create({ userName: "f@example.com", department: "Sales" });
    await b.admin.post("/exceptions", { user: u.f.id, group: "finance", kind: "grant", reason: "audit season", owner: "cfo@example.com" });
    u.g = await b.create({ userName: "g@example.com", department: "Treasury" });
    await b.admin.post("/exceptions", { user: u.g.id, group: "finance", kind: "block", reason: "separation of duties", owner: "cfo@example.com" });
    u.h = await b.create({ userName: "h@example.com", department: "Treasury", employmentStatus: "pre-hire", startDate: new Date(T0.getTime() + 30 * DAY).toISOString() });
    u.s = await b.create({ userName: "svc@example.com", userType: "Service", sponsor: "nobody" });
  });
  after(async () => { await b.stop(); });

  /** Visible memberships: "group|userName" (any source). */
  const snapshot = async () => new Set((await b.db.query(
    `SELECT DISTINCT g.display_name, u.user_name FROM group_member gm JOIN scim_group g ON g.id = gm.group_id JOIN scim_user u ON u.id = gm.user_id`,
  )).rows.map((r) => `${r.display_name}|${r.user_name}`));
  const rows = async () => (await b.db.query(`SELECT group_id, user_id, source, cause::text FROM group_member ORDER BY 1, 2, 3`)).rows;

  it("when a policy file is invalid, then validate, plan and apply answer POLICY_INVALID with file, line and what is wrong", async () => {
    const broken = `groups:\n  - name: finance\n    when: departmnt eq "Finance"\n    owner: 42\n`;
    for (const path of ["/policy/validate", "/policy/plan", "/policy/apply"]) {
      const res = await b.admin.yaml(`${path}?file=bad.yaml`, broken);
      expect(res.status, path).to.equal(400);
      expect(res.body.error.code).to.equal("POLICY_INVALID");
      expect(res.body.error.issues.map((i: any) => [i.file, i.line, i.path])).to.deep.equal([["bad.yaml", 3, "groups[0].when"], ["bad.yaml", 4, "groups[0].owner"]]);
    }
    const ok = await b.admin.yaml("/policy/validate", P2);
    expect(ok.body).to.include({ ok: true, groups: 4 });
  });

  it("when a change is planned, then nothing changes, and applying it changes exactly what the plan said", async () => {
    const before = await snapshot();
    const rowsBefore = await rows();
    const activeBefore = (await b.admin.get("/policy")).body.version;

    const plan = await b.admin.post("/policy/plan", { yaml: P2, file: "p2.yaml" });
    expect(plan.status).to.equal(200);
    expect(await rows()).to.deep.equal(rowsBefore);
    expect((await b.admin.get("/policy")).body.version).to.equal(activeBefore);
    expect(plan.body).to.include({ from: activeBefore, unchanged: false });
    expect(plan.body.addedGroups).to.deep.equal(["everyone", "prod-admin"]);
    expect(plan.body.removedGroups).to.deep.equal(["legacy"]);
    expect(plan.body.changedGroups).to.deep.equal([{ name: "finance", changed: ["when"] }]);
    // the story, spelled out: Treasury joins finance (g stays blocked; d left; h not started), b's privileged
    // grant waits, everyone gets the active present users, legacy's manual member stays visible
    expect(plan.body.groups.finance).to.deep.equal({ gains: { count: 1, users: ["b@example.com"] }, losses: { count: 0, users: [] }, reviews: { count: 0, users: [] } });
    expect(plan.body.groups["prod-admin"].reviews.users).to.deep.equal(["b@example.com"]);
    expect(plan.body.groups.everyone.gains.users).to.deep.equal(["a@example.com", "b@example.com", "c@example.com", "f@example.com", "g@example.com"]);
    expect(plan.body.groups).to.not.have.property("legacy");

    const applied = await b.admin.post("/policy/apply", { yaml: P2, file: "p2.yaml" });
    expect(applied.status).to.equal(200);
    expect(applied.body).to.include({ recorded: true, to: plan.body.to });
    expect(applied.body.groups).to.deep.equal(plan.body.groups);
    const after = await snapshot();
    const gains: Record<string, string[]> = {}, losses: Record<string, string[]> = {};
    for (const k of after) if (!before.has(k)) { const [g, n] = k.split("|"); (gains[g!] ??= []).push(n!); }
    for (const k of before) if (!after.has(k)) { const [g, n] = k.split("|"); (losses[g!] ??= []).push(n!); }
    const planned = (kind: "gains" | "losses") => Object.fromEntries(Object.entries(plan.body.groups as Record<string, any>)
      .filter(([, g]) => g[kind].count > 0).map(([name, g]) => [name, g[kind].users]));
    expect(Object.fromEntries(Object.entries(gains).map(([g, ns]) => [g, ns.sort()]))).to.deep.equal(planned("gains"));
    expect(Object.fromEntries(Object.entries(losses).map(([g, ns]) => [g, ns.sort()]))).to.deep.equal(planned("losses"));
    const reviews = (await b.admin.get("/reviews", { kind: "privileged-grant", status: "pending" })).body.items;
    expect(reviews.map((r: any) => [r.group, r.userId])).to.deep.equal([["prod-admin", u.b.id]]);
  });

  it("when a group leaves the policy, then it stays in /Groups unmanaged with its manual members only", async () => {
    const { rows: g } = await b.db.query(`SELECT managed FROM scim_group WHERE display_name = 'legacy'`);
    expect(g[0].managed).to.equal(false);
    expect(await b.rowsOf(u.c.id)).to.deep.include("legacy:manual");
    expect(await b.rowsOf(u.c.id)).to.not.include("legacy:rule");
  });

  it("when the same policy is applied again, then no version is recorded and nothing changes", async () => {
    const rowsBefore = await rows();
    const again = await b.admin.post("/policy/apply", { yaml: P2 });
    expect(again.body).to.include({ recorded: false, users: 0 });
    expect(await rows()).to.deep.equal(rowsBefore);
  });

  it("when a user is written after the apply, then the new rules apply to them", async () => {
    const x = await b.create({ department: "Treasury", title: "SRE III" });
    expect(await b.groupsOf(x.id)).to.deep.equal(["everyone", "finance"]);
    expect((await b.admin.get("/reviews", { user: x.id })).body.items.map((r: any) => r.group)).to.deep.equal(["prod-admin"]);
  });

  it("when an apply was interrupted after recording the version, then converge (run by every start and apply) finishes it", async () => {
    const p3 = P2.replace('title sw "SRE"', 'title sw "SRE" or title eq "Clerk"');
    const policy = b.t.broker.lifecycle.policies.parse(p3, "p3.yaml");
    await b.db.query(`INSERT INTO policy_version (version, yaml, file, applied_at, applied_by) VALUES ($1, $2, 'p3.yaml', now(), 'test')`, [policy.version, p3]);
    expect((await b.admin.get("/reviews", { user: u.c.id, kind: "privileged-grant" })).body.items).to.deep.equal([]);
    const done = await b.t.broker.lifecycle.policy.converge("test");
    expect(done?.groups["prod-admin"]?.reviews.users).to.deep.equal(["c@example.com"]);
    expect(await b.t.broker.lifecycle.policy.converge("test")).to.equal(null);
  });
});
