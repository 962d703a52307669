import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, GROUP_SCHEMA } from "../helpers/scim.ts";

describe("SCIM Groups and membership deltas", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  const mkUsers = async (n: number) => Promise.all(Array.from({ length: n }, async () => (await c.post("/Users", userBody())).body.id as string));
  before(async () => { t = await startTestBroker(); c = scimClient(t.base, t.token); db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 }); });
  after(async () => { await db.end(); await t.stop(); });

  it("when a group is created with members, then members and the users' groups attribute reflect it", async () => {
    const [u1, u2] = await mkUsers(2);
    const g = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `g-${Date.now()}`, members: [{ value: u1 }, { value: u2 }] });
    expect(g.status).to.equal(201);
    expect(g.body.members.map((m: any) => m.value).sort()).to.deep.equal([u1, u2].sort());
    const u = await c.get(`/Users/${u1}`);
    expect(u.body.groups.map((x: any) => x.value)).to.deep.equal([g.body.id]);
  });

  it("when a duplicate displayName is created, then 409 uniqueness", async () => {
    const name = `dup-${Date.now()}`;
    expect((await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: name })).status).to.equal(201);
    expect((await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: name.toUpperCase() })).status).to.equal(409);
  });

  it("when one member is added to a large group, then one row is written, not the whole group", async () => {
    const ids = await mkUsers(60);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `big-${Date.now()}`, members: ids.slice(0, 59).map((value) => ({ value })) })).body;
    const before = await db.query("SELECT ctid::text, user_id FROM group_member WHERE group_id=$1", [g.id]);
    const res = await c.patch(`/Groups/${g.id}?excludedAttributes=members`, [{ op: "add", path: "members", value: [{ value: ids[59] }] }]);
    expect(res.status).to.equal(200);
    expect(res.body).to.not.have.property("members");
    const after = await db.query("SELECT ctid::text, user_id FROM group_member WHERE group_id=$1", [g.id]);
    expect(after.rows).to.have.length(60);
    // the 59 existing rows are untouched (same physical tuple ids): the add was a delta, not a rewrite
    const old = new Set(before.rows.map((r) => `${r.ctid}|${r.user_id}`));
    expect(after.rows.filter((r) => old.has(`${r.ctid}|${r.user_id}`))).to.have.length(59);
  });

  it("when many membership PATCHes run concurrently on one group, then none is lost", async () => {
    const ids = await mkUsers(30);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `conc-${Date.now()}` })).body;
    const results = await Promise.all(ids.map((value) => c.patch(`/Groups/${g.id}`, [{ op: "Add", path: "members", value: [{ value }] }])));
    expect(results.every((r) => r.status === 200)).to.equal(true);
    const { rows } = await db.query("SELECT count(*)::int AS n FROM group_member WHERE group_id=$1", [g.id]);
    expect(rows[0].n).to.equal(30);
    const removes = await Promise.all(ids.slice(0, 10).map((value) => c.patch(`/Groups/${g.id}`, [{ op: "Remove", path: "members", value: [{ value }] }])));
    expect(removes.every((r) => r.status === 200)).to.equal(true);
    expect((await db.query("SELECT count(*)::int AS n FROM group_member WHERE group_id=$1", [g.id])).rows[0].n).to.equal(20);
  });

  it("when an absent member is removed, then it succeeds (Entra expects idempotent removes)", async () => {
    const [u1] = await mkUsers(1);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `idem-${Date.now()}` })).body;
    const res = await c.patch(`/Groups/${g.id}`, [{ op: "remove", path: `members[value eq "${u1}"]` }]);
    expect(res.status).to.equal(200);
  });

  it("when members are replaced, renamed (Okta style) and removed with a filter, then the group reflects each step", async () => {
    const [u1, u2, u3] = await mkUsers(3);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `okta-${Date.now()}`, members: [{ value: u1 }] })).body;
    let res = await c.patch(`/Groups/${g.id}`, [{ op: "replace", path: "members", value: [{ value: u2 }, { value: u3 }] }]);
    expect(res.body.members.map((m: any) => m.value).sort()).to.deep.equal([u2, u3].sort());
    res = await c.patch(`/Groups/${g.id}`, [{ op: "replace", value: { id: g.id, displayName: `${g.displayName}-renamed` } }]);
    expect(res.status).to.equal(200);
    expect(res.body.displayName).to.equal(`${g.displayName}-renamed`);
    res = await c.patch(`/Groups/${g.id}`, [{ op: "remove", path: `members[value eq "${u2}"]` }, { op: "add", path: "members", value: [{ value: u1, display: "x" }] }]);
    expect(res.body.members.map((m: any) => m.value).sort()).to.deep.equal([u1, u3].sort());
    const put = await c.put(`/Groups/${g.id}`, { schemas: [GROUP_SCHEMA], displayName: "put-name-" + g.id, members: [{ value: u3 }] });
    expect(put.body.members.map((m: any) => m.value)).to.deep.equal([u3]);
  });

  it("when a member is not an existing user, then 400 invalidValue and nothing is written", async () => {
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `bad-${Date.now()}` })).body;
    const [u1] = await mkUsers(1);
    const res = await c.patch(`/Groups/${g.id}`, [{ op: "add", path: "members", value: [{ value: u1 }, { value: "00000000-0000-4000-8000-000000000000" }] }]);
    expect(res.status).to.equal(400);
    expect(res.body.scimType).to.equal("invalidValue");
    expect((await db.query("SELECT count(*)::int AS n FROM group_member WHERE group_id=$1", [g.id])).rows[0].n).to.equal(0);
    expect((await c.patch(`/Groups/${g.id}`, [{ op: "add", path: "members", value: [{ value: "not-a-uuid" }] }])).status).to.equal(400);
  });

  it("when groups are filtered by member, then only groups containing that user are returned", async () => {
    const [u1] = await mkUsers(1);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `fm-${Date.now()}`, members: [{ value: u1 }] })).body;
    const res = await c.get("/Groups", { filter: `members[value eq "${u1}"]`, excludedAttributes: "members" });
    expect(res.body.totalResults).to.equal(1);
    expect(res.body.Resources[0].id).to.equal(g.id);
    expect(res.body.Resources[0]).to.not.have.property("members");
  });

  it("when a group is deleted, then its memberships go with it and the users no longer list it", async () => {
    const [u1] = await mkUsers(1);
    const g = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `del-${Date.now()}`, members: [{ value: u1 }] })).body;
    expect((await c.del(`/Groups/${g.id}`)).status).to.equal(204);
    expect((await c.get(`/Users/${u1}`)).body.groups).to.deep.equal([]);
  });
});
