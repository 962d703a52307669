// SCIM semantics an IdP and an identity engineer rely on, through HTTP on PostgreSQL with the lifecycle
// layer wired in: a leaver never comes back by accident (RFC 7644 §3.5.1, §3.5.2.2), whole extensions can be
// removed, canonicalValues are suggestions (RFC 7643 §7), `attributes` never drops silently, discovery
// tells the truth, and Bulk refuses a failOnErrors it cannot honour (RFC 7644 §3.7.3).
import { expect } from "chai";
import { startLifecycleBroker, personBody, replace, HR, ENT, type LifecycleBroker } from "./lifecycle-harness.ts";
import { GROUP_SCHEMA, USER_SCHEMA } from "../helpers/scim.ts";

const POLICY = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: london
    when: location eq "London" and active eq true
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;
const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

describe("SCIM correctness: leavers stay leavers, extensions, canonical values, projections, discovery, Bulk", () => {
  let b: LifecycleBroker;
  before(async () => { b = await startLifecycleBroker(POLICY); });
  after(async () => { await b.stop(); });

  const events = async (id: string) => (await b.admin.get("/events", { user: id })).body.items.map((e: any) => e.kind).reverse();
  const get = async (id: string) => (await b.scim.get(`/Users/${id}`)).body;
  const isError = (res: any, status: number, scimType: string) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.scimType, JSON.stringify(res.body)).to.equal(scimType);
  };

  /** A Finance employee in London (employmentStatus active) who was then disabled (a leaver): both rule groups gone. */
  async function leaver() {
    const u = await b.create({ department: "Finance", location: "London", userType: "Employee", employmentStatus: "active" });
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
    await b.patch(u.id, [replace("active", false)]);
    expect(await b.groupsOf(u.id)).to.deep.equal([]);
    expect(await events(u.id)).to.deep.equal(["joiner", "leaver"]);
    return u;
  }

  describe("active and re-activation (issue 8, defects 1 and 2)", () => {
    it("when HR terminates a user who is still active=true, then the response already shows the account the lifecycle disabled, with the stored version", async () => {
      const u = await b.create({ department: "Finance", location: "London", userType: "Employee", employmentStatus: "active" });
      const res = await b.scim.patch(`/Users/${u.id}`, [replace(`${HR}:employmentStatus`, "terminated")]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const stored = await b.scim.get(`/Users/${u.id}`);
      expect(stored.body.active).to.equal(false);
      expect(res.body.active, "the PATCH response tells what is stored").to.equal(false);
      expect(res.body.meta.version).to.equal(stored.body.meta.version);
      expect(res.headers.etag).to.equal(stored.headers.etag);
    });

    it("when a PATCH removes active from a disabled leaver, then it stays disabled, gets no groups back and no rehire is recorded", async () => {
      const u = await leaver();
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "remove", path: "active" }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.active).to.equal(false);
      expect((await get(u.id)).active).to.equal(false);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await events(u.id)).to.deep.equal(["joiner", "leaver"]);
    });

    it("when a PUT omits active (or sends null) for a disabled leaver, then it stays disabled and no rehire is recorded", async () => {
      const u = await leaver();
      const { active: _, ...body } = personBody({ userName: u.userName, department: "Finance", location: "London", userType: "Employee" });
      const res = await b.scim.put(`/Users/${u.id}`, body);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.active).to.equal(false);
      const res2 = await b.scim.put(`/Users/${u.id}`, { ...body, active: null, title: "Analyst" });
      expect(res2.status, JSON.stringify(res2.body)).to.equal(200);
      expect(res2.body.active).to.equal(false);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await events(u.id)).to.deep.equal(["joiner", "leaver"]);
    });

    it("when a path-less PATCH or a PUT changes other attributes of a leaver, then it stays disabled", async () => {
      const u = await leaver();
      await b.patch(u.id, [{ op: "replace", value: { title: "Ex-employee", [`${ENT}:department`]: "Finance" } }]);
      expect((await get(u.id)).active).to.equal(false);
      // employmentStatus restated as it was ("active") is not a re-activation either
      await b.patch(u.id, [replace(`${HR}:employmentStatus`, "active")]);
      await b.patch(u.id, [replace(`${HR}:employmentStatus`, "active")]);
      expect((await get(u.id)).active).to.equal(false);
      expect(await events(u.id)).to.deep.equal(["joiner", "leaver"]);
    });

    it("when a leaver is re-enabled explicitly with active true, then it is a rehire and the rules apply again", async () => {
      const u = await leaver();
      await b.patch(u.id, [replace("active", true)]);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance", "london"]);
      expect(await events(u.id)).to.deep.equal(["joiner", "leaver", "rehire"]);
    });

    it("when HR changes employmentStatus from terminated to active without sending active, then that explicit HR decision re-activates (rehire)", async () => {
      const u = await b.create({ department: "Finance", userType: "Employee", employmentStatus: "active" });
      await b.patch(u.id, [replace(`${HR}:employmentStatus`, "terminated")]);
      expect((await get(u.id)).active).to.equal(false);
      const { active: _, ...body } = personBody({ userName: u.userName, department: "Finance", userType: "Employee", employmentStatus: "active" });
      const res = await b.scim.put(`/Users/${u.id}`, body);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.active).to.equal(true);
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
      expect(await events(u.id)).to.deep.equal(["joiner", "leaver", "rehire"]);
    });

    it("when a user is created without active, then it is active (the create default is unchanged)", async () => {
      const { active: _, ...body } = personBody({ department: "Finance" });
      const res = await b.scim.post("/Users", body);
      expect(res.status).to.equal(201);
      expect(res.body.active).to.equal(true);
      expect(res.body.groups.map((g: any) => g.display)).to.deep.equal(["finance"]);
    });
  });

  describe("removing a whole extension (issue 8, defect 3)", () => {
    it("when a PATCH removes the enterprise extension by its URN, then its attributes go and the derived group membership goes with the department", async () => {
      const u = await b.create({ department: "Finance", costCenter: "CC1", userType: "Employee" });
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "remove", path: ENT }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body[ENT]).to.equal(undefined);
      expect(res.body.active).to.equal(true);
      const { rows } = await b.db.query(`SELECT department, cost_center FROM scim_user WHERE id = $1`, [u.id]);
      expect(rows[0]).to.deep.equal({ department: null, cost_center: null });
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      expect(await events(u.id)).to.deep.equal(["joiner", "mover"]);
    });

    it("when a PATCH removes the HR extension (any case), then location is cleared and the location group goes; removing it again is a no-op", async () => {
      const u = await b.create({ location: "London", userType: "Employee" });
      expect(await b.groupsOf(u.id)).to.deep.equal(["london"]);
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "Remove", path: HR.toLowerCase() }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body[HR]).to.equal(undefined);
      expect(await b.groupsOf(u.id)).to.deep.equal([]);
      const again = await b.scim.patch(`/Users/${u.id}`, [{ op: "remove", path: HR }]);
      expect(again.status).to.equal(200);
      expect(again.body.meta.version).to.equal(res.body.meta.version);
    });

    it("when one PATCH removes an extension and then adds one of its attributes, then the operations apply in order", async () => {
      const u = await b.create({ department: "Engineering", costCenter: "CC9" });
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "remove", path: ENT }, { op: "add", path: `${ENT}:department`, value: "Finance" }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body[ENT]).to.deep.equal({ department: "Finance" });
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    });

    it("when a PATCH replaces the enterprise extension with differently cased attribute names, then they are understood (RFC 7643 §2.1)", async () => {
      const u = await b.create({ department: "Engineering" });
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "replace", path: ENT, value: { Department: "Finance" } }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body[ENT].department).to.equal("Finance");
      expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    });
  });

  describe("canonicalValues are suggestions (issue 8, defect 4)", () => {
    const entraRole = { primary: true, type: "WindowsAzureActiveDirectoryRole", value: "Admin" };

    it("when Entra POSTs its app-role payload, then the roles are stored and returned", async () => {
      const res = await b.scim.post("/Users", { ...personBody(), roles: [entraRole] });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.roles).to.deep.equal([entraRole]);
      expect((await get(res.body.id)).roles).to.deep.equal([entraRole]);
    });

    it("when Entra adds a role with primary \"True\", then it is stored as a boolean and returned", async () => {
      const u = await b.create();
      const res = await b.scim.patch(`/Users/${u.id}`, [{ op: "Add", path: "roles", value: [{ primary: "True", type: "WindowsAzureActiveDirectoryRole", value: "Reader" }] }]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect((await get(u.id)).roles).to.deep.equal([{ primary: true, type: "WindowsAzureActiveDirectoryRole", value: "Reader" }]);
    });

    it("when types outside the suggested values are sent (emails private, x509Certificates, phone), then they are accepted; wrong data types are still refused", async () => {
      const res = await b.scim.post("/Users", { ...personBody(), emails: [{ value: "p@home.example", type: "private" }],
        x509Certificates: [{ value: "TUlJQ2FEQ0NBZEdnQXdJQkFnSUpBSk4=", type: "signing" }], phoneNumbers: [{ value: "+44 20 1234", type: "desk" }] });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.emails[0].type).to.equal("private");
      expect(res.body.x509Certificates[0].type).to.equal("signing");
      isError(await b.scim.post("/Users", { ...personBody(), roles: [{ value: "Admin", type: 5 }] }), 400, "invalidValue");
      isError(await b.scim.post("/Users", { ...personBody(), emails: [{ value: "a@x", type: ["work"] }] }), 400, "invalidValue");
      // our own HR vocabulary stays closed: the lifecycle depends on it
      isError(await b.scim.post("/Users", personBody({ employmentStatus: "retired" })), 400, "invalidValue");
    });
  });

  describe("attributes and excludedAttributes with value filters (issue 8, defect 6)", () => {
    it("when attributes or excludedAttributes carry a value filter, then 400 invalidValue instead of a silently emptied resource", async () => {
      const u = await b.create();
      for (const query of [{ attributes: 'emails[type eq "work"]' }, { attributes: 'emails[type eq "work"].value' }, { excludedAttributes: 'emails[type eq "work"]' }]) {
        isError(await b.scim.get("/Users", query), 400, "invalidValue");
        isError(await b.scim.get(`/Users/${u.id}`, query), 400, "invalidValue");
      }
      isError(await b.scim.post("/Users/.search", { schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], attributes: ['emails[type eq "work"]'] }), 400, "invalidValue");
      expect((await b.scim.get(`/Users/${u.id}`, { attributes: "emails.value" })).body.emails).to.have.length(1);
    });

    it("when a write carries a value filter in attributes, then it is refused before anything is written", async () => {
      const body = personBody();
      const res = await b.scim.raw().post("/Users").query({ attributes: 'emails[type eq "work"]' }).set(b.scim.auth).set("Content-Type", "application/scim+json").send(body);
      isError(res, 400, "invalidValue");
      expect((await b.scim.get("/Users", { filter: `userName eq "${body.userName}"` })).body.totalResults).to.equal(0);
      // a projection without meta still gets its Location header (this was a 500)
      const ok = await b.scim.raw().post("/Users").query({ attributes: "userName" }).set(b.scim.auth).set("Content-Type", "application/scim+json").send(body);
      expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
      expect(ok.headers.location).to.equal(`${b.t.base}/Users/${ok.body.id}`);
      expect(Object.keys(ok.body).sort()).to.deep.equal(["id", "schemas", "userName"]);
    });
  });

  describe("discovery tells the truth (issue 8, defects 7 and 12)", () => {
    it("when the Group schema is read, then members are Users only and members.display is readOnly, as the server behaves", async () => {
      const g = (await b.scim.get(`/Schemas/${GROUP_SCHEMA}`)).body;
      const members = g.attributes.find((a: any) => a.name === "members");
      const sub = Object.fromEntries(members.subAttributes.map((s: any) => [s.name, s]));
      expect(sub.type.canonicalValues).to.deep.equal(["User"]);
      expect(sub.$ref.referenceTypes).to.deep.equal(["User"]);
      expect(sub.display.mutability).to.equal("readOnly");
      // and the server: a Group member is refused, a client's display is ignored for the user's own
      const u = await b.create();
      const nested = await b.scim.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `outer-${Date.now()}`, members: [{ value: u.id, type: "Group" }] });
      isError(nested, 400, "invalidValue");
      const grp = await b.scim.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: `truth-${Date.now()}`, members: [{ value: u.id, display: "Someone Else" }] });
      expect(grp.status).to.equal(201);
      expect(grp.body.members).to.deep.equal([{ value: u.id, $ref: `${b.t.base}/Users/${u.id}`, display: u.userName, type: "User" }]);
    });

    it("when a client sends values for attributes /Schemas calls readOnly (manager.displayName, sponsor.displayName), then they are ignored, not stored and echoed", async () => {
      const ent = (await b.scim.get(`/Schemas/${ENT}`)).body.attributes.find((a: any) => a.name === "manager");
      expect(ent.subAttributes.find((s: any) => s.name === "displayName").mutability).to.equal("readOnly");
      const boss = await b.create();
      const res = await b.scim.post("/Users", { ...personBody(), [ENT]: { manager: { value: boss.id, displayName: "Not The Boss" } }, [HR]: { sponsor: { value: boss.id, displayName: "Someone" } } });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body[ENT].manager).to.deep.equal({ value: boss.id });
      expect(res.body[HR].sponsor).to.deep.equal({ value: boss.id });
    });

    it("when the User schema is read, then canonical values are listed as suggestions and the HR employmentStatus says it is a closed list", async () => {
      const s = (await b.scim.get(`/Schemas/${USER_SCHEMA}`)).body;
      const sub = (attr: string, name: string) => s.attributes.find((a: any) => a.name === attr).subAttributes.find((x: any) => x.name === name);
      expect(sub("emails", "type").canonicalValues).to.deep.equal(["work", "home", "other"]);
      const hr = (await b.scim.get(`/Schemas/${HR}`)).body;
      const status = hr.attributes.find((a: any) => a.name === "employmentStatus");
      expect(status.canonicalValues).to.deep.equal(["pre-hire", "active", "leave", "terminated"]);
      expect(status.description).to.match(/only these values/i);
    });

    it("when /ServiceProviderConfig is read, then pagination is RFC 9865 §4's attribute of the core schema, nothing else", async () => {
      const spc = (await b.scim.get("/ServiceProviderConfig")).body;
      expect(spc.schemas).to.deep.equal([SPC]);
      expect(spc.pagination).to.deep.equal({ cursor: true, index: true, defaultPaginationMethod: "index", defaultPageSize: 100, maxPageSize: 1000 });
      expect(Object.keys(spc).filter((k) => k.startsWith("urn:"))).to.deep.equal([]);
    });
  });

  describe("Bulk failOnErrors (issue 14, defect 9)", () => {
    it("when failOnErrors is 0, negative, fractional or not a number, then 400 invalidValue and no operation runs", async () => {
      for (const failOnErrors of [0, -1, 1.5, "two", true]) {
        const body = personBody();
        const res = await b.scim.post("/Bulk", { schemas: [BULK], failOnErrors, Operations: [{ method: "POST", path: "/Users", bulkId: "a", data: body }] });
        isError(res, 400, "invalidValue");
        expect(res.body.detail).to.match(/failOnErrors/);
        expect((await b.scim.get("/Users", { filter: `userName eq "${body.userName}"` })).body.totalResults, String(failOnErrors)).to.equal(0);
      }
      const ok = await b.scim.post("/Bulk", { schemas: [BULK], failOnErrors: 1, Operations: [{ method: "POST", path: "/Users", bulkId: "a", data: personBody() }] });
      expect(ok.status).to.equal(200);
      expect(ok.body.Operations[0].status).to.equal("201");
    });
  });
});
