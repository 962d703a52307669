import { expect } from "chai";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, USER_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA } from "../helpers/scim.ts";

// Request sequences as Microsoft Entra and Okta send them (docs/scim-clients.md).
describe("Entra and Okta dialects", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  before(async () => { t = await startTestBroker(); c = scimClient(t.base, t.token); });
  after(async () => { await t.stop(); });

  it("when Entra runs its provisioning cycle, then test connection, create, update, disable and delete all succeed", async () => {
    // Test connection: a random guid filter answers an empty list, query +-encoded
    const probe = await c.raw().get(`/Users?filter=userName+eq+%22${crypto.randomUUID()}%22`).set(c.auth);
    expect(probe.status).to.equal(200);
    expect(probe.body).to.include({ totalResults: 0 });
    const userName = `entra.${Date.now()}@contoso.com`;
    const created = await c.post("/Users", {
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], externalId: "entra-ext-1", userName, active: "True",
      emails: [{ primary: true, type: "work", value: userName }], meta: { resourceType: "User" },
      name: { formatted: "Ada L", familyName: "L", givenName: "Ada" }, roles: [], title: null,
      [ENTERPRISE_SCHEMA]: { department: "Finance", employeeNumber: null },
    });
    expect(created.status).to.equal(201);
    expect(created.body.active).to.equal(true);
    const id = created.body.id;
    // matching by externalId and by work email
    expect((await c.get("/Users", { filter: 'externalId eq "entra-ext-1"' })).body.totalResults).to.equal(1);
    expect((await c.get("/Users", { filter: `emails[type eq "work"].value eq "${userName.toUpperCase()}"` })).body.totalResults).to.equal(1);
    const upd = await c.patch(`/Users/${id}`, [
      { op: "Replace", path: 'emails[type eq "work"].value', value: `new.${userName}` },
      { op: "Replace", path: "name.familyName", value: "Lovelace" },
      { op: "Replace", path: `${ENTERPRISE_SCHEMA}:employeeNumber`, value: "701984" },
      { op: "Add", path: "nickName", value: "Ada" },
      { op: "Add", path: "manager", value: [{ $ref: null, value: "mgr-42" }] },
    ]);
    expect(upd.status).to.equal(200);
    expect(upd.body.name.familyName).to.equal("Lovelace");
    expect(upd.body[ENTERPRISE_SCHEMA]).to.deep.include({ employeeNumber: "701984" });
    // aadOptscim062020 style: path-less replace with dotted and URN keys
    const multi = await c.patch(`/Users/${id}`, [{ op: "replace", value: { "name.givenName": "Augusta", [`${ENTERPRISE_SCHEMA}:department`]: "Engineering", displayName: "Augusta Ada" } }]);
    expect(multi.status).to.equal(200);
    expect(multi.body.name.givenName).to.equal("Augusta");
    expect(multi.body[ENTERPRISE_SCHEMA].department).to.equal("Engineering");
    // Disable: the leaver path, with a string boolean
    const off = await c.patch(`/Users/${id}`, [{ op: "Replace", path: "active", value: "False" }]);
    expect(off.status).to.equal(200);
    expect(off.body.active).to.equal(false);
    // a disabled user is still returned by GET and by filters
    expect((await c.get(`/Users/${id}`)).body.active).to.equal(false);
    expect((await c.get("/Users", { filter: `userName eq "${userName}"` })).body.Resources[0].active).to.equal(false);
    expect((await c.del(`/Users/${id}`)).status).to.equal(204);
  });

  it("when a work e-mail is replaced on a user that has none, then it is added (Entra) instead of 400 noTarget", async () => {
    const u = (await c.post("/Users", { schemas: [USER_SCHEMA], userName: `nomail.${Date.now()}` })).body;
    const res = await c.patch(`/Users/${u.id}`, [{ op: "Replace", path: 'emails[type eq "work"].value', value: "w@example.com" }]);
    expect(res.status).to.equal(200);
    expect(res.body.emails).to.deep.equal([{ type: "work", value: "w@example.com" }]);
  });

  it("when Entra manages groups, then create, rename, concurrent adds and default removes work", async () => {
    const users = await Promise.all([1, 2, 3].map(async () => (await c.post("/Users", userBody())).body.id));
    const g = await c.post("/Groups", { schemas: [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"], displayName: `entra-g-${Date.now()}`, externalId: "eg1", members: [] });
    expect(g.status).to.equal(201);
    const read = await c.get(`/Groups/${g.body.id}`, { excludedAttributes: "members" });
    expect(read.body).to.not.have.property("members");
    expect((await c.patch(`/Groups/${g.body.id}`, [{ op: "Replace", path: "displayName", value: `${g.body.displayName}-2` }])).status).to.equal(200);
    await Promise.all(users.map((value) => c.patch(`/Groups/${g.body.id}`, [{ op: "Add", path: "members", value: [{ $ref: null, value }] }])));
    expect((await c.get(`/Groups/${g.body.id}`)).body.members).to.have.length(3);
    await c.patch(`/Groups/${g.body.id}`, [{ op: "Remove", path: "members", value: [{ value: users[0] }] }]);
    expect((await c.get(`/Groups/${g.body.id}`)).body.members).to.have.length(2);
  });

  it("when Okta imports, creates, updates with PUT and deactivates, then each step answers as Okta expects", async () => {
    const okta = (req: any) => req.set("User-Agent", "Okta SCIM Client 1.0.0");
    const userName = `okta.${Date.now()}@example.com`;
    const miss = await okta(c.get("/Users", { filter: `userName eq "${userName}"`, startIndex: 1, count: 100 }));
    expect(miss.body).to.include({ totalResults: 0, startIndex: 1 });
    const created = await okta(c.post("/Users", {
      schemas: [USER_SCHEMA], userName, name: { givenName: "Okta", familyName: "User" }, emails: [{ primary: true, value: userName, type: "work" }],
      displayName: "Okta User", locale: "en-US", externalId: "00u1", groups: [], password: "1mz050nq", active: true,
    }));
    expect(created.status).to.equal(201);
    expect(created.body).to.not.have.property("password");
    expect((await okta(c.post("/Users", { schemas: [USER_SCHEMA], userName, password: "x" }))).status).to.equal(409);
    const got = (await c.get(`/Users/${created.body.id}`)).body;
    const put = await okta(c.put(`/Users/${got.id}`, { ...got, name: { givenName: "Okta2", familyName: "User" }, groups: [], password: "newpass" }));
    expect(put.status).to.equal(200);
    expect(put.body.name.givenName).to.equal("Okta2");
    expect(put.body).to.not.have.property("password");
    const off = await okta(c.patch(`/Users/${got.id}`, [{ op: "replace", value: { active: false } }]));
    expect(off.body.active).to.equal(false);
    const on = await okta(c.patch(`/Users/${got.id}`, [{ op: "replace", value: { active: true } }]));
    expect(on.body.active).to.equal(true);
  });

  it("when attribute names arrive in another case, then they are understood", async () => {
    const res = await c.post("/Users", { schemas: [USER_SCHEMA], USERNAME: `caps.${Date.now()}`, Name: { GivenName: "Cap" }, Active: true });
    expect(res.status).to.equal(201);
    expect(res.body.name.givenName).to.equal("Cap");
    const f = await c.get("/Users", { filter: `USERNAME eq "${res.body.userName}"` });
    expect(f.body.totalResults).to.equal(1);
  });
});
