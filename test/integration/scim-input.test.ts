// Hostile and malformed input on the SCIM routes (issue 8 defect 5, issue 14 defects 1, 2 and 10): each
// answer is a precise RFC 7644 §3.12 error, never a 500, and a refused request changes nothing.
import { expect } from "chai";
import pg from "pg";
import { request as httpRequest } from "node:http";
import request from "supertest";
import { connect } from "node:net";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, userBody, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "../helpers/scim.ts";

const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

describe("SCIM input: filters, limits, encodings and content types", function () {
  this.timeout(60_000);
  let t: TestBroker;
  let c: ReturnType<typeof scimClient>;
  let db: pg.Pool;
  let userId: string;
  const snapshot = async () => (await db.query(`SELECT (SELECT count(*) FROM scim_user)::int AS users, (SELECT count(*) FROM change_record)::int AS changes,
    (SELECT max(version) FROM scim_user)::int AS version`)).rows[0];

  before(async () => {
    t = await startTestBroker();
    c = scimClient(t.base, t.token);
    db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
    userId = (await c.post("/Users", userBody({ userName: "ada@example.com", title: "Engineer" }))).body.id;
    await c.post("/Users", userBody({ userName: "alan@example.com", title: "Manager" }));
  });
  after(async () => { await db.end(); await t.stop(); });

  const expectScimError = (r: { status: number; body: any; headers: any }, status: number, scimType?: string) => {
    expect(r.status, JSON.stringify(r.body)).to.equal(status);
    expect(r.headers["content-type"]).to.match(/application\/scim\+json/);
    expect(r.body.schemas).to.deep.equal([ERROR]);
    if (scimType) expect(r.body.scimType).to.equal(scimType);
    expect(r.body.detail).to.not.match(/Cannot read|undefined|RangeError|URIError|index row|22P0|22021/);
  };

  describe("filter grammar (issue 8 defect 5)", () => {
    it("when not (…) stands inside a parenthesised group, then the filter is evaluated (RFC 7644 §3.4.2.2)", async () => {
      const names = async (filter: string) => {
        const r = await c.get("/Users", { filter });
        expect(r.status, JSON.stringify(r.body)).to.equal(200);
        return r.body.Resources.map((u: any) => u.userName).sort();
      };
      expect(await names('userName sw "a" and (title eq "x" or not (title eq "Engineer"))')).to.deep.equal(["alan@example.com"]);
      expect(await names('(not (title eq "Manager"))')).to.deep.equal(["ada@example.com"]);
      expect(await names('not (title eq "Manager" or title eq "Engineer")')).to.deep.equal([]);
    });
  });

  describe("filter size and complexity (issue 14 defect 2)", () => {
    it("when a .search carries a 70,000-term or filter, then 400 invalidFilter 'too complex' and /healthz still answers", async () => {
      const filter = Array.from({ length: 70_000 }, () => "title pr").join(" or "); // 840 KB, as in the issue
      expect(filter.length).to.be.greaterThan(800_000);
      const search = c.raw().post("/Users/.search").set(c.auth).set("Content-Type", "application/scim+json").send({ schemas: [SEARCH], filter });
      const [r, health] = await Promise.all([search, request(t.url).get("/healthz")]);
      expectScimError(r, 400, "invalidFilter");
      expect(r.body.detail).to.match(/too complex/);
      expect(health.status).to.equal(200);
    });
    it("when a filter has too many comparisons or is nested too deep, then 400 invalidFilter 'too complex'", async () => {
      const many = Array.from({ length: 101 }, (_, i) => `title eq "${i}"`).join(" or ");
      expectScimError(await c.get("/Users", { filter: many }), 400, "invalidFilter");
      const deep = `${"(".repeat(17)}title pr${")".repeat(17)}`;
      const r = await c.get("/Users", { filter: deep });
      expectScimError(r, 400, "invalidFilter");
      expect(r.body.detail).to.match(/too complex/);
    });
  });

  describe("PATCH path filters (scimmy expands them exponentially)", () => {
    it("when a PATCH path's value filter would expand to thousands of alternatives, then 400 invalidFilter at once", async () => {
      const before = await snapshot();
      const groups = Array.from({ length: 18 }, (_, i) => `(type eq "a${i}" or value eq "b${i}")`).join(" and ");
      const r = await c.patch(`/Users/${userId}`, [{ op: "remove", path: `emails[${groups}]` }]);
      expectScimError(r, 400, "invalidFilter");
      expect(r.body.detail).to.match(/too complex/);
      expectScimError(await c.patch(`/Users/${userId}`, [{ op: "remove", path: `emails[${"x".repeat(2_000)} eq "1"]` }]), 400, "invalidPath");
      expect(await snapshot()).to.deep.equal(before);
    });
  });

  describe("hostile values (issue 14 defect 1)", () => {
    it("when JSON is nested 2,000 deep, then 400 invalidSyntax before any walk (no stack overflow)", async () => {
      const before = await snapshot();
      let deep: unknown = "x";
      for (let i = 0; i < 2_000; i++) deep = { value: [deep] };
      expectScimError(await c.post("/Users", userBody({ name: deep })), 400, "invalidSyntax");
      const raw = `{"schemas":["${USER_SCHEMA}"],"userName":"deep","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
      expectScimError(await c.raw().post("/Users").set(c.auth).set("Content-Type", "application/scim+json").send(raw), 400, "invalidSyntax");
      expectScimError(await c.patch(`/Users/${userId}`, [{ op: "add", path: "nickName", value: deep }]), 400, "invalidSyntax");
      expect(await snapshot()).to.deep.equal(before);
    });
    it("when an indexed attribute is 1 MB long, then 400 invalidValue names the attribute", async () => {
      const before = await snapshot();
      const big = "a".repeat(1_000_000);
      for (const [body, name] of [
        [userBody({ userName: big }), "userName"],
        [userBody({ externalId: "x".repeat(300) }), "externalId"],
        [userBody({ [ENTERPRISE_SCHEMA]: { department: "d".repeat(257) } }), "department"],
        [userBody({ [ENTERPRISE_SCHEMA]: { costCenter: "€".repeat(300) } }), "costCenter"],
        [userBody({ [ENTERPRISE_SCHEMA]: { manager: { value: "m".repeat(300) } } }), "manager.value"],
        [userBody({ emails: [{ value: `${"e".repeat(300)}@x.example`, type: "work" }] }), "emails"],
      ] as const) {
        const r = await c.raw().post("/Users").set(c.auth).set("Content-Type", "application/scim+json").send(body);
        expectScimError(r, 400, "invalidValue");
        expect(r.body.detail, name).to.include(name);
      }
      const g = await c.post("/Groups", { schemas: [GROUP_SCHEMA], displayName: "g".repeat(300) });
      expectScimError(g, 400, "invalidValue");
      expect(g.body.detail).to.include("displayName");
      expectScimError(await c.patch(`/Users/${userId}`, [{ op: "replace", path: "title", value: "t".repeat(257) }]), 400, "invalidValue");
      expect(await snapshot()).to.deep.equal(before);
    });
    it("when a string holds NUL or an unpaired surrogate, in a body or in a filter, then 400 naming it", async () => {
      const before = await snapshot();
      for (const bad of ["a\u0000b", "a\ud800b", "\udc00"]) {
        const r = await c.post("/Users", userBody({ userName: `x${bad}@example.com` }));
        expectScimError(r, 400);
        expect(r.body.detail).to.include("userName");
        expectScimError(await c.post("/Users", userBody({ title: bad })), 400);
        // A query string cannot carry a lone surrogate (percent-decoding yields U+FFFD); NUL it can.
        if (bad.includes("\u0000")) expectScimError(await c.get("/Users", { filter: `userName eq "${bad}"` }), 400, "invalidFilter");
        const s = await c.raw().post("/Users/.search").set(c.auth).set("Content-Type", "application/scim+json").send({ schemas: [SEARCH], filter: `title eq "${bad}"` });
        expectScimError(s, 400, "invalidFilter");
      }
      // escaped in the JSON text, and escaped in the filter's own JSON string
      const r = await c.raw().post("/Users").set(c.auth).set("Content-Type", "application/scim+json").send(`{"schemas":["${USER_SCHEMA}"],"userName":"a\\u0000b"}`);
      expectScimError(r, 400);
      expectScimError(await c.get("/Users", { filter: 'title eq "a\\u0000"' }), 400, "invalidFilter");
      expectScimError(await c.get("/Users", { filter: 'title eq "\\ud800"' }), 400, "invalidFilter");
      expect(await snapshot()).to.deep.equal(before);
    });
    it("when startIndex, count or a cursor are beyond safe integers or forged, then 400 naming the parameter", async () => {
      for (const q of [{ startIndex: "99999999999999999999999" }, { count: "1e400" }, { startIndex: "9223372036854775808" }, { count: "-99999999999999999999" }]) {
        const r = await c.get("/Users", q);
        expectScimError(r, 400, "invalidValue");
        expect(r.body.detail).to.match(/startIndex|count/);
      }
      const forged = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
      for (const cursor of [forged({ s: 1e300, q: "" }), forged({ s: "1", q: "" }), forged({ s: -1 }), "%%%", "x".repeat(5_000)]) {
        const r = await c.get("/Users", { cursor });
        expectScimError(r, 400, "invalidCursor");
      }
    });
    it("when a path id has broken percent-encoding, then a SCIM error body, never a URIError", async () => {
      for (const id of ["%ff", "%E2%82", "%u0041", "%", "abc%zz"]) {
        for (const res of ["Users", "Groups"]) {
          const r = await c.raw().get(`/${res}/${id}`).set(c.auth);
          expect(r.status, `${res}/${id}`).to.be.oneOf([400, 404]);
          expectScimError(r, r.status);
          const d = await c.raw().delete(`/${res}/${id}`).set(c.auth);
          expect(d.status).to.be.oneOf([400, 404]);
          expectScimError(d, d.status);
        }
      }
    });
    it("when Node refuses a request itself (431 headers too large, 400 bad request line), then the SCIM path gets a SCIM body", async () => {
      const url = new URL(t.url);
      const send = (raw: string) => new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
        const req = httpRequest({ host: url.hostname, port: url.port, method: "GET", path: "/scim/v2/Users", headers: { "X-Big": "b".repeat(20_000) } }, (res) => {
          let body = ""; res.on("data", (d) => (body += d)); res.on("end", () => resolve({ status: res.statusCode!, body, type: String(res.headers["content-type"]) }));
        });
        req.on("error", reject);
        req.end(raw);
      });
      const r = await send("");
      expect(r.status).to.equal(431);
      expect(r.type).to.match(/application\/scim\+json/);
      expect(JSON.parse(r.body)).to.include({ status: "431" });
      // A malformed header line: Node's parser answers 400 before express sees the request.
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(url.port), url.hostname, () => sock.end("GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"));
        let got = ""; sock.on("data", (d) => (got += d)); sock.on("end", () => resolve(got)); sock.on("error", reject);
      });
      expect(raw).to.match(/^HTTP\/1\.1 400 /);
      expect(raw).to.match(/Content-Type: application\/scim\+json/i);
      expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4))).to.include({ status: "400" });
    });
  });

  describe("content types (issue 14 defect 10, RFC 7644 §3.1)", () => {
    it("when a body is sent as application/scim+json or application/json (with a charset), then it is accepted", async () => {
      for (const type of ["application/scim+json", "application/json", "application/json; charset=utf-8", "application/scim+json;charset=UTF-8"]) {
        const r = await c.raw().post("/Users").set(c.auth).set("Content-Type", type).send(JSON.stringify(userBody()));
        expect(r.status, type).to.equal(201);
      }
    });
    it("when another media type is sent, then 415 with a SCIM body and nothing is written", async () => {
      const before = await snapshot();
      for (const type of ["application/evil+json", "application/json;;;", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "application/jsonx"]) {
        const r = await c.raw().post("/Users").set(c.auth).set("Content-Type", type).send(JSON.stringify(userBody()));
        expectScimError(r, 415);
        const p = await c.raw().patch(`/Users/${userId}`).set(c.auth).set("Content-Type", type).send("{}");
        expectScimError(p, 415);
      }
      expect(await snapshot()).to.deep.equal(before);
    });
  });
});
