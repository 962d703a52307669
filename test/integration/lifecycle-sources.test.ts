// Source authority through HTTP, with two tokens of two sources (Workday owns the HR attributes, Entra owns
// title and emails): a write that changes what the other source owns is a 400 mutability naming the
// attribute and stores nothing — POST, PUT, PATCH and each Bulk operation; repeating owned values unchanged
// is accepted; a PUT that omits them keeps them; attributes nobody owns are anyone's.
import { expect } from "chai";
import { startLifecycleBroker, personBody, replace, ENT, HR, type LifecycleBroker } from "./lifecycle-harness.ts";
import { scimClient } from "../helpers/scim.ts";
import { BULK_REQUEST, PATCH_OP } from "../../src/scim/schemas.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
sources:
  - name: workday
    owner: hr-ops@example.com
    owns: [department, employmentStatus, active, userType, manager, startDate, endDate, employeeNumber, costCenter]
  - name: entra
    owns: [title, phoneNumbers, emails]
`;

describe("source authority: who may write what", () => {
  let b: LifecycleBroker;
  let workday: ReturnType<typeof scimClient>;
  let entra: ReturnType<typeof scimClient>;
  let id: string;
  const stored = async () => (await b.scim.get(`/Users/${id}`)).body;
  const changes = async () => Number((await b.db.query(`SELECT count(*) FROM change_record WHERE resource_id = $1`, [id])).rows[0].count);
  const expectRefused = (res: { status: number; body: any }, ...attributes: string[]) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(400);
    expect(res.body.scimType).to.equal("mutability");
    for (const a of attributes) expect(res.body.detail).to.include(`'${a}'`);
  };

  before(async () => {
    b = await startLifecycleBroker(POLICY);
    workday = scimClient(b.t.base, (await b.t.broker.tokens.create({ name: "workday", scopes: ["scim:write", "scim:read"], source: "workday" })).token);
    entra = scimClient(b.t.base, (await b.t.broker.tokens.create({ name: "entra", scopes: ["scim:write", "scim:read"], source: "entra" })).token);
    const { emails: _e, ...body } = personBody({ department: "Finance", userType: "Employee", employmentStatus: "active" });
    const res = await workday.post("/Users", body);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    id = res.body.id;
    expect((await entra.patch(`/Users/${id}`, [replace("title", "Analyst"), replace("emails", [{ value: "ann@example.com", type: "work" }])])).status).to.equal(200);
  });
  after(async () => { await b.stop(); });

  it("when GET /admin/v1/sources is read, then each owned attribute names its source", async () => {
    const res = await b.admin.get("/sources");
    expect(res.status).to.equal(200);
    expect(res.body.sources.map((s: any) => [s.name, s.owner])).to.deep.equal([["workday", "hr-ops@example.com"], ["entra", null]]);
    expect(res.body.attributes.find((a: any) => a.attribute === "department")).to.deep.include({ owner: "workday", path: `${ENT}:department` });
    expect(res.body.attributes.find((a: any) => a.attribute === "emails")).to.deep.include({ owner: "entra" });
  });

  it("when Entra PATCHes a Workday-owned attribute, then it is a 400 mutability naming it and nothing of the PATCH is stored", async () => {
    const version = (await stored()).meta.version;
    const before = await changes();
    const res = await entra.patch(`/Users/${id}`, [replace("title", "Lead"), replace(`${ENT}:department`, "Sales"), replace("active", false)]);
    expectRefused(res, "department", "active");
    expect(res.body.detail).to.include("source 'entra'").and.include("owned by source 'workday'");
    const now = await stored();
    expect(now.title).to.equal("Analyst"); // the allowed part is not stored either
    expect(now[ENT].department).to.equal("Finance");
    expect(now.meta.version).to.equal(version);
    expect(await changes()).to.equal(before);
    expect(await b.groupsOf(id)).to.deep.equal(["finance"]);
  });

  it("when a stale SSO claim tries to re-enable a user HR disabled, then it is refused", async () => {
    expect((await workday.patch(`/Users/${id}`, [replace("active", false)])).status).to.equal(200);
    expectRefused(await entra.patch(`/Users/${id}`, [replace("active", true)]), "active");
    expect((await stored()).active).to.equal(false);
    expect((await workday.patch(`/Users/${id}`, [replace("active", true)])).status).to.equal(200);
  });

  it("when Workday writes an Entra-owned attribute, then it is refused the same way; its own attributes go through", async () => {
    expectRefused(await workday.patch(`/Users/${id}`, [replace("title", "Boss")]), "title");
    const ok = await workday.patch(`/Users/${id}`, [replace(`${ENT}:costCenter`, "4100"), replace("nickName", "Annie")]);
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
    // nickName is owned by nobody: anyone may write it
    expect((await entra.patch(`/Users/${id}`, [replace("nickName", "A.")])).status).to.equal(200);
  });

  it("when Entra PUTs the user repeating Workday's values unchanged, or omitting them, then it is accepted and they are kept", async () => {
    const cur = await stored();
    const { id: _i, meta: _m, groups: _g, ...full } = cur;
    const same = await entra.put(`/Users/${id}`, { ...full, title: "Senior Analyst" });
    expect(same.status, JSON.stringify(same.body)).to.equal(200);
    const omitted = await entra.put(`/Users/${id}`, { schemas: full.schemas, userName: full.userName, name: full.name, title: "Principal", emails: full.emails });
    expect(omitted.status, JSON.stringify(omitted.body)).to.equal(200);
    const now = await stored();
    expect(now.title).to.equal("Principal");
    expect(now[ENT]).to.deep.include({ department: "Finance", costCenter: "4100" });
    expect(now[HR].employmentStatus).to.equal("active");
    expect(now.active).to.equal(true);
    expect(await b.groupsOf(id)).to.deep.equal(["finance"]);
    // … but a PUT that changes one is refused whole
    const changed = await entra.put(`/Users/${id}`, { ...full, title: "X", [ENT]: { ...full[ENT], department: "Sales" } });
    expectRefused(changed, "department");
    expect((await stored()).title).to.equal("Principal");
  });

  it("when Entra POSTs a user with Workday-owned values, then the create is refused and no user exists", async () => {
    const body = personBody({ department: "Finance" });
    expectRefused(await entra.post("/Users", body), "department");
    expect((await b.scim.get("/Users", { filter: `userName eq "${body.userName}"` })).body.totalResults).to.equal(0);
    const own = await entra.post("/Users", { schemas: body.schemas, userName: body.userName, title: "Contractor", emails: body.emails });
    expect(own.status, JSON.stringify(own.body)).to.equal(201);
  });

  it("when a Bulk mixes allowed and refused operations, then each refused one is a 400 mutability and stores nothing, the others apply", async () => {
    const res = await entra.post("/Bulk", {
      schemas: [BULK_REQUEST],
      Operations: [
        { method: "PATCH", path: `/Users/${id}`, data: { schemas: [PATCH_OP], Operations: [replace("title", "Bulk title")] } },
        { method: "PATCH", path: `/Users/${id}`, data: { schemas: [PATCH_OP], Operations: [replace("title", "Never"), replace(`${HR}:employmentStatus`, "terminated")] } },
      ],
    });
    expect(res.status).to.equal(200);
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["200", "400"]);
    expect(res.body.Operations[1].response.scimType).to.equal("mutability");
    expect(res.body.Operations[1].response.detail).to.include("'employmentStatus'");
    const now = await stored();
    expect(now.title).to.equal("Bulk title");
    expect(now[HR].employmentStatus).to.equal("active");
    expect(await b.groupsOf(id)).to.deep.equal(["finance"]);
  });

  it("when a token has no source, then it owns nothing: owned attributes are refused to it", async () => {
    expectRefused(await b.scim.patch(`/Users/${id}`, [replace(`${ENT}:department`, "Sales")]), "department");
    expect((await b.scim.patch(`/Users/${id}`, [replace("nickName", "Admin-set")])).status).to.equal(200);
  });
});
