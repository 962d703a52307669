import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA } from "../helpers/scim.ts";

describe("SCIM Users (RFC 7644 §3.3–3.6) through HTTP on PostgreSQL", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  before(async () => { t = await startTestBroker(); c = scimClient(t.base, t.token); db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 }); });
  after(async () => { await db.end(); await t.stop(); });

  it("when a user with enterprise and HR extensions is created, then it is stored, returned with meta and its change is recorded", async () => {
    const body = userBody({
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA], userType: "Employee", title: "Analyst",
      [ENTERPRISE_SCHEMA]: { department: "Finance", costCenter: "CC-1", employeeNumber: "E1", manager: { value: "mgr-1" } },
      [HR_SCHEMA]: { employmentStatus: "active", startDate: "2026-01-05T09:00:00Z", location: "Berlin", sponsor: { value: "s-1" } },
      password: "Secr3t!",
    });
    const res = await c.post("/Users", body);
    expect(res.status).to.equal(201);
    expect(res.headers["content-type"]).to.match(/^application\/scim\+json/);
    expect(res.headers.location).to.equal(res.body.meta.location);
    expect(res.headers.etag).to.equal('W/"1"');
    expect(res.body).to.not.have.property("password");
    expect(res.body[ENTERPRISE_SCHEMA]).to.deep.include({ department: "Finance", costCenter: "CC-1" });
    expect(res.body[HR_SCHEMA]).to.deep.include({ employmentStatus: "active", location: "Berlin" });
    expect(res.body.meta).to.include({ resourceType: "User", version: 'W/"1"' });
    const { rows } = await db.query("SELECT department, employment_status, manager_id, sponsor_id, data FROM scim_user WHERE id=$1", [res.body.id]);
    expect(rows[0]).to.include({ department: "Finance", employment_status: "active", manager_id: "mgr-1", sponsor_id: "s-1" });
    expect(JSON.stringify(rows[0].data)).to.not.include("Secr3t");
    const ch = await db.query("SELECT operation, changed, after FROM change_record WHERE resource_id=$1", [res.body.id]);
    expect(ch.rows).to.have.length(1);
    expect(ch.rows[0].operation).to.equal("create");
    expect(ch.rows[0].after).to.include({ department: "Finance", active: true });
  });

  it("when userName differs only in case, then the create is a 409 uniqueness and lookups are case-insensitive while the stored case is kept", async () => {
    const b = userBody({ userName: "Case.Keeper@Example.com" });
    expect((await c.post("/Users", b)).status).to.equal(201);
    const dup = await c.post("/Users", userBody({ userName: "case.keeper@example.COM" }));
    expect(dup.status).to.equal(409);
    expect(dup.body).to.include({ scimType: "uniqueness", status: "409" });
    const found = await c.get("/Users", { filter: 'userName eq "CASE.KEEPER@example.com"' });
    expect(found.body.totalResults).to.equal(1);
    expect(found.body.Resources[0].userName).to.equal("Case.Keeper@Example.com");
  });

  it("when a user is replaced with PUT, then omitted attributes are cleared and the version increments", async () => {
    const created = (await c.post("/Users", userBody({ title: "T", displayName: "D" }))).body;
    const put = await c.put(`/Users/${created.id}`, { schemas: [USER_SCHEMA], userName: created.userName, displayName: "New" });
    expect(put.status).to.equal(200);
    expect(put.body).to.include({ displayName: "New", active: true });
    expect(put.body).to.not.have.property("title");
    expect(put.body.meta.version).to.equal('W/"2"');
    expect((await c.get(`/Users/${created.id}`)).body.title).to.equal(undefined);
  });

  it("when PATCH uses attribute paths, value filters and extension URNs, then each is applied", async () => {
    const created = (await c.post("/Users", userBody({ schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], [ENTERPRISE_SCHEMA]: { department: "Sales" } }))).body;
    const res = await c.patch(`/Users/${created.id}`, [
      { op: "replace", path: 'emails[type eq "work"].value', value: "new.mail@example.com" },
      { op: "replace", path: "name.familyName", value: "Changed" },
      { op: "add", path: `${ENTERPRISE_SCHEMA}:department`, value: "Engineering" },
      { op: "add", path: "nickName", value: "Nick" },
      { op: "remove", path: "name.givenName" },
    ]);
    expect(res.status).to.equal(200);
    expect(res.body.emails[0].value).to.equal("new.mail@example.com");
    expect(res.body.name).to.deep.equal({ familyName: "Changed" });
    expect(res.body[ENTERPRISE_SCHEMA].department).to.equal("Engineering");
    expect(res.body.nickName).to.equal("Nick");
    const { rows } = await db.query("SELECT department FROM scim_user WHERE id=$1", [created.id]);
    expect(rows[0].department).to.equal("Engineering");
  });

  it("when a user is deleted, then GET answers 404 with a SCIM error, totalResults drops and the deletion is recorded", async () => {
    const created = (await c.post("/Users", userBody())).body;
    const total = async () => (await c.get("/Users", { count: 0 })).body.totalResults;
    const before = await total();
    expect(before).to.equal((await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n);
    expect((await c.del(`/Users/${created.id}`)).status).to.equal(204);
    expect(await total()).to.equal(before - 1);
    const gone = await c.get(`/Users/${created.id}`);
    expect(gone.status).to.equal(404);
    expect(gone.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
    expect((await c.del(`/Users/${created.id}`)).status).to.equal(404);
    const ch = await db.query("SELECT operation FROM change_record WHERE resource_id=$1 ORDER BY id", [created.id]);
    expect(ch.rows.map((r) => r.operation)).to.deep.equal(["create", "delete"]);
  });

  it("when If-Match carries a stale version, then the write is refused with 412 and nothing changes; If-None-Match gives 304", async () => {
    const created = (await c.post("/Users", userBody({ title: "A" }))).body;
    const stale = await c.raw().patch(`/Users/${created.id}`).set(c.auth).set("If-Match", 'W/"9"').send({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "title", value: "B" }] });
    expect(stale.status).to.equal(412);
    const ok = await c.raw().patch(`/Users/${created.id}`).set(c.auth).set("If-Match", 'W/"1"').send({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "title", value: "B" }] });
    expect(ok.status).to.equal(200);
    expect((await c.raw().get(`/Users/${created.id}`).set(c.auth).set("If-None-Match", 'W/"2"')).status).to.equal(304);
    expect((await c.raw().get(`/Users/${created.id}`).set(c.auth).set("If-None-Match", 'W/"1"')).status).to.equal(200);
    expect((await c.raw().delete(`/Users/${created.id}`).set(c.auth).set("If-Match", 'W/"1"')).status).to.equal(412);
    expect((await c.get(`/Users/${created.id}`)).body.title).to.equal("B");
  });
});
