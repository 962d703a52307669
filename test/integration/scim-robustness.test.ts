// Bad input never becomes a 500, a crash or a partial write (RFC 7644 §3.12 errors only).
import { expect } from "chai";
import fc from "fast-check";
import pg from "pg";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, USER_SCHEMA, GROUP_SCHEMA, PATCH_OP } from "../helpers/scim.ts";

describe("robustness against arbitrary input", function () {
  this.timeout(120_000);
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  let userId: string;
  let groupId: string;
  before(async () => {
    t = await startTestBroker();
    c = scimClient(t.base, t.token);
    db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
    userId = (await c.post("/Users", userBody())).body.id;
    groupId = (await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "robust" })).body.id;
  });
  after(async () => { await db.end(); await t.stop(); });

  const scimish = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom("True", "False", "", "bulkId:x"),
      fc.array(tie("value"), { maxLength: 3 }), fc.dictionary(fc.constantFrom("value", "type", "primary", "display", "givenName", "op", "path", "$ref", "members", "emails", "active", "userName", "displayName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"), tie("value"), { maxKeys: 4 })),
  })).value;

  it("when random bodies are POSTed, PUT and PATCHed, then every answer is a SCIM response below 500 and the store stays consistent", async () => {
    const before = (await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n;
    let created = 0;
    await fc.assert(fc.asyncProperty(
      fc.record({ userName: fc.option(fc.string(), { nil: undefined }), extra: fc.dictionary(fc.string({ maxLength: 12 }), scimish, { maxKeys: 4 }) }),
      fc.array(fc.record({ op: fc.constantFrom("add", "replace", "remove", "Add", "bogus"), path: fc.option(fc.constantFrom("members", "userName", "active", 'emails[type eq "work"].value', "name.givenName", 'members[value eq "x"]', "displayName", "nosuch", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "[", "a.b.c"), { nil: undefined }), value: scimish }), { maxLength: 3 }),
      async (b, ops) => {
        const post = await c.post("/Users", { schemas: [USER_SCHEMA], ...b.extra, ...(b.userName !== undefined ? { userName: b.userName } : {}) });
        expect(post.status, JSON.stringify(post.body)).to.be.oneOf([201, 400, 409]);
        if (post.status === 201) created++;
        expect(post.headers["content-type"]).to.match(/scim\+json/);
        for (const [path, kind] of [[`/Users/${userId}`, "User"], [`/Groups/${groupId}`, "Group"]] as const) {
          const r = await c.raw().patch(path).set(c.auth).set("Content-Type", "application/scim+json").send({ schemas: [PATCH_OP], Operations: ops });
          expect(r.status, `${kind} ${JSON.stringify(ops)} → ${JSON.stringify(r.body)}`).to.be.oneOf([200, 400, 409]);
        }
        const put = await c.put(`/Users/${userId}`, { schemas: [USER_SCHEMA], ...b.extra });
        expect(put.status).to.be.oneOf([200, 400, 409]);
      }), { numRuns: 60 });
    expect((await db.query("SELECT count(*)::int n FROM scim_user")).rows[0].n).to.equal(before + created);
    expect((await c.get(`/Users/${userId}`)).status).to.equal(200);
  });

  it("when filters are random strings, then the answer is 200 or 400 invalidFilter, never 500", async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.string(), fc.constantFrom('userName eq "a" and', "((", 'emails[type eq "work"', 'title gt true', 'meta.created gt "notadate"', 'id eq "x"', 'not ()', 'userName eq "\\"', "a eq b eq c", 'groups[value eq "x"].display pr')),
      async (filter) => {
        const r = await c.get("/Users", { filter });
        expect(r.status, `${filter} → ${JSON.stringify(r.body)}`).to.be.oneOf([200, 400]);
        if (r.status === 400) expect(r.body.scimType).to.be.oneOf(["invalidFilter", "invalidValue"]);
      }), { numRuns: 150 });
  });

  it("when a token is bound to an HR source, then users it creates remember the source", async () => {
    const { token } = await t.broker.tokens.create({ name: "workday-feed", scopes: ["scim:write"], source: "workday" });
    const u = await scimClient(t.base, token).post("/Users", userBody());
    expect(u.status).to.equal(201);
    const { rows } = await db.query("SELECT u.source, c.source AS change_source, c.token_id FROM scim_user u JOIN change_record c ON c.resource_id = u.id WHERE u.id=$1", [u.body.id]);
    expect(rows[0]).to.include({ source: "workday", change_source: "workday" });
    expect(rows[0].token_id).to.be.a("string");
  });

  it("when an unsupported method is used on an endpoint, then 405 with a SCIM error", async () => {
    const r = await c.raw().put("/Users").set(c.auth).send({});
    expect(r.status).to.equal(405);
    expect(r.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
  });
});
