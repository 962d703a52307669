import { expect } from "chai";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, USER_SCHEMA, SCIM_TYPE } from "../helpers/scim.ts";

const isScimError = (res: any, status: number, scimType?: string) => {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.headers["content-type"]).to.match(/^application\/scim\+json/);
  expect(res.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
  expect(res.body.status).to.equal(String(status));
  if (scimType) expect(res.body.scimType).to.equal(scimType);
};

describe("SCIM errors (RFC 7644 §3.12): right status, scimType, content type; never a partial write", () => {
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  before(async () => { t = await startTestBroker({ env: { BROKER_MAX_BODY: "2kb", BROKER_BULK_MAX_PAYLOAD: "4kb", BROKER_BULK_MAX_OPERATIONS: "3" } }); c = scimClient(t.base, t.token); db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 }); });
  after(async () => { await db.end(); await t.stop(); });

  it("when the token is missing, wrong or revoked, then 401 with a SCIM body and WWW-Authenticate", async () => {
    isScimError(await c.raw().get("/Users"), 401);
    const bad = await c.raw().get("/Users").set("Authorization", "Bearer nope");
    isScimError(bad, 401);
    expect(bad.headers["www-authenticate"]).to.match(/^Bearer/);
    const { token } = await t.broker.tokens.create({ name: "short-lived", scopes: ["scim:read"] });
    await t.broker.tokens.revoke("short-lived");
    isScimError(await c.raw().get("/Users").set("Authorization", `Bearer ${token}`), 401);
  });

  it("when a read-only token writes, then 403", async () => {
    const ro = scimClient(t.base, t.readToken);
    expect((await ro.get("/Users")).status).to.equal(200);
    isScimError(await ro.post("/Users", userBody()), 403);
  });

  it("when the body is not JSON, then 400 invalidSyntax", async () => {
    isScimError(await c.raw().post("/Users").set(c.auth).set("Content-Type", SCIM_TYPE).send('{"schemas": ['), 400, "invalidSyntax");
  });

  it("when the body is over the limit, then 413", async () => {
    isScimError(await c.post("/Users", userBody({ displayName: "x".repeat(5000) })), 413);
  });

  it("when values have the wrong type or miss required attributes, then 400 invalidValue and nothing is stored", async () => {
    const before = (await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n;
    isScimError(await c.post("/Users", { schemas: [USER_SCHEMA], userName: "x", active: "maybe" }), 400, "invalidValue");
    isScimError(await c.post("/Users", { schemas: [USER_SCHEMA] }), 400, "invalidValue");
    isScimError(await c.post("/Users", { userName: "noschemas" }), 400, "invalidValue");
    isScimError(await c.post("/Users", { schemas: [USER_SCHEMA], userName: "x", "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User": { employmentStatus: "retired" } }), 400, "invalidValue");
    isScimError(await c.post("/Users", [1, 2]), 400, "invalidSyntax");
    expect((await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n).to.equal(before);
  });

  it("when a PATCH is malformed or one operation fails, then 400 and no operation is applied", async () => {
    const u = (await c.post("/Users", userBody({ title: "keep" }))).body;
    isScimError(await c.raw().patch(`/Users/${u.id}`).set(c.auth).send({ Operations: [] }), 400, "invalidSyntax");
    isScimError(await c.patch(`/Users/${u.id}`, [{ op: "jump", path: "title", value: "x" }]), 400, "invalidSyntax");
    isScimError(await c.patch(`/Users/${u.id}`, [{ op: "replace", path: "title", value: "changed" }, { op: "replace", path: "nosuchattr", value: 1 }]), 400, "invalidPath");
    isScimError(await c.patch(`/Users/${u.id}`, [{ op: "remove", path: "userName" }]), 400);
    expect((await c.get(`/Users/${u.id}`)).body.title).to.equal("keep");
  });

  it("when a filter is invalid or names an unknown attribute, then 400 invalidFilter", async () => {
    isScimError(await c.get("/Users", { filter: 'nosuch eq "a"' }), 400, "invalidFilter");
    isScimError(await c.get("/Users", { filter: "userName eq" }), 400, "invalidFilter");
    isScimError(await c.get("/Users", { filter: 'userName zz "a"' }), 400, "invalidFilter");
    isScimError(await c.get("/Users", { filter: '(userName eq "a"' }), 400, "invalidFilter");
  });

  it("when an unknown id or endpoint is asked for, then 404 SCIM errors", async () => {
    isScimError(await c.get("/Users/not-a-uuid"), 404);
    isScimError(await c.get("/Users/6f1b3a0e-0000-4000-8000-000000000000"), 404);
    isScimError(await c.get("/Nothing"), 404);
    isScimError(await c.patch("/Groups/6f1b3a0e-0000-4000-8000-000000000000", [{ op: "add", path: "members", value: [] }]), 404);
  });

  it("when /Bulk exceeds maxOperations or maxPayloadSize, then 413", async () => {
    const op = (i: number) => ({ method: "POST", path: "/Users", bulkId: `b${i}`, data: userBody() });
    isScimError(await c.post("/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [0, 1, 2, 3].map(op) }), 413);
    isScimError(await c.post("/Bulk", { schemas: ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], Operations: [{ ...op(9), data: userBody({ displayName: "y".repeat(6000) }) }] }), 413);
  });
});
