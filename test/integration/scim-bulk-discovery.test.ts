import { expect } from "chai";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, GROUP_SCHEMA, USER_SCHEMA } from "../helpers/scim.ts";

const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

describe("Bulk and discovery", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  before(async () => { t = await startTestBroker({ env: { BROKER_BULK_MAX_OPERATIONS: "50" } }); c = scimClient(t.base, t.token); });
  after(async () => { await t.stop(); });

  it("when a Bulk request references bulkIds (even forward), then they resolve and every operation reports its status", async () => {
    const u = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], Operations: [
      { method: "POST", path: "/Groups", bulkId: "g", data: { schemas: [GROUP_SCHEMA], displayName: `bulk-${Date.now()}`, members: [{ value: "bulkId:u" }] } },
      { method: "POST", path: "/Users", bulkId: "u", data: u },
      { method: "PATCH", path: "/Users/bulkId:u", data: { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "title", value: "Bulked" }] } },
    ] });
    expect(res.status).to.equal(200);
    const byId = Object.fromEntries(res.body.Operations.map((o: any) => [o.bulkId ?? o.method, o]));
    expect(byId.u.status).to.equal("201");
    expect(byId.g.status).to.equal("201");
    const userId = byId.u.location.split("/").pop();
    const g = await c.get(`/Groups/${byId.g.location.split("/").pop()}`);
    expect(g.body.members.map((m: any) => m.value)).to.deep.equal([userId]);
    expect((await c.get(`/Users/${userId}`)).body.title).to.equal("Bulked");
  });

  it("when failOnErrors is reached, then processing stops and later operations are not run", async () => {
    const dup = userBody();
    await c.post("/Users", dup);
    const later = userBody();
    const res = await c.post("/Bulk", { schemas: [BULK], failOnErrors: 1, Operations: [
      { method: "POST", path: "/Users", bulkId: "a", data: dup },
      { method: "POST", path: "/Users", bulkId: "b", data: later },
    ] });
    expect(res.body.Operations).to.have.length(1);
    expect(res.body.Operations[0]).to.include({ status: "409" });
    expect(res.body.Operations[0].response.scimType).to.equal("uniqueness");
    expect((await c.get("/Users", { filter: `userName eq "${later.userName}"` })).body.totalResults).to.equal(0);
  });

  it("when bulkIds are circular, then those operations fail without a crash", async () => {
    const res = await c.post("/Bulk", { schemas: [BULK], Operations: [
      { method: "POST", path: "/Groups", bulkId: "x", data: { schemas: [GROUP_SCHEMA], displayName: "cx", members: [{ value: "bulkId:y" }] } },
      { method: "POST", path: "/Groups", bulkId: "y", data: { schemas: [GROUP_SCHEMA], displayName: "cy", members: [{ value: "bulkId:x" }] } },
    ] });
    expect(res.status).to.equal(200);
    expect(res.body.Operations.map((o: any) => o.status)).to.deep.equal(["400", "400"]);
  });

  it("when discovery endpoints are read, then they describe exactly what is supported", async () => {
    const spc = (await c.get("/ServiceProviderConfig")).body;
    expect(spc.patch.supported).to.equal(true);
    expect(spc.bulk).to.include({ supported: true, maxOperations: 50 });
    expect(spc.etag.supported).to.equal(true);
    expect(spc.sort.supported).to.equal(true);
    expect(spc.changePassword.supported).to.equal(false);
    expect(spc.authenticationSchemes[0].type).to.equal("oauthbearertoken");
    const schemas = (await c.get("/Schemas")).body;
    expect(schemas.Resources.map((s: any) => s.id)).to.include.members([USER_SCHEMA, GROUP_SCHEMA,
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User"]);
    const hr = (await c.get("/Schemas/urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User")).body;
    expect(hr.attributes.map((a: any) => a.name)).to.include.members(["employmentStatus", "startDate", "endDate", "location", "sponsor"]);
    const rts = (await c.get("/ResourceTypes")).body;
    expect(rts.Resources.map((r: any) => r.endpoint)).to.deep.equal(["/Users", "/Groups"]);
    expect(rts.Resources[0].schemaExtensions).to.have.length(2);
  });
});
