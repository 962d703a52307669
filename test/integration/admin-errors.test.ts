// One error edge per API: every /admin/v1 answer that is an error — authentication and authorisation,
// unknown routes, wrong methods, broken or oversized bodies, bad parameters of any admin router — is
// {"error": {"code", "message"}} with the README's stable codes; /scim/v2 keeps RFC 7644 §3.12 bodies.
import { expect } from "chai";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";

const isAdminError = (res: request.Response, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.headers["content-type"]).to.match(/^application\/json/);
  expect(Object.keys(res.body)).to.deep.equal(["error"]);
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.message).to.be.a("string").and.not.match(/Cannot read|undefined|is not a function/);
  expect(res.body).to.not.have.property("schemas");
};

describe("admin API errors: one shape for every /admin/v1 route", () => {
  let t: TestBroker;
  const admin = () => request(t.url);
  const auth = () => ({ Authorization: `Bearer ${t.token}` });
  before(async () => { t = await startTestBroker(); });
  after(async () => { await t.stop(); });

  it("when the token is missing or wrong, then 401 UNAUTHORIZED with WWW-Authenticate, on every admin router", async () => {
    for (const path of ["/admin/v1/audit", "/admin/v1/reviews", "/admin/v1/apps", "/admin/v1/no-such-route"]) {
      const res = await admin().get(path);
      isAdminError(res, 401, "UNAUTHORIZED");
      expect(res.headers["www-authenticate"]).to.match(/^Bearer/);
      isAdminError(await admin().get(path).set("Authorization", "Bearer nope"), 401, "UNAUTHORIZED");
    }
  });

  it("when a token without the admin scope calls, then 403 FORBIDDEN", async () => {
    for (const path of ["/admin/v1/audit", "/admin/v1/exceptions", "/admin/v1/leavers"])
      isAdminError(await admin().get(path).set("Authorization", `Bearer ${t.readToken}`), 403, "FORBIDDEN");
  });

  it("when the route does not exist, then 404 NOT_FOUND", async () => {
    isAdminError(await admin().get("/admin/v1/no-such-route").set(auth()), 404, "NOT_FOUND");
    isAdminError(await admin().post("/admin/v1/reviews/x/y/z").set(auth()).send({}), 404, "NOT_FOUND");
  });

  it("when the method is not allowed on an existing route, then 405 METHOD_NOT_ALLOWED with Allow", async () => {
    const res = await admin().delete("/admin/v1/audit").set(auth());
    isAdminError(res, 405, "METHOD_NOT_ALLOWED");
    expect(res.headers.allow).to.equal("GET");
    const apps = await admin().put("/admin/v1/apps/some-app/test").set(auth()).send({});
    isAdminError(apps, 405, "METHOD_NOT_ALLOWED");
    expect(apps.headers.allow).to.equal("POST");
  });

  it("when the JSON body is broken, then 400 BAD_REQUEST", async () => {
    for (const path of ["/admin/v1/exceptions", "/admin/v1/audit/verify", "/admin/v1/apps/x/replay"])
      isAdminError(await admin().post(path).set(auth()).set("Content-Type", "application/json").send('{"user": '), 400, "BAD_REQUEST");
  });

  it("when the body is too large, then 413 PAYLOAD_TOO_LARGE", async () => {
    const big = JSON.stringify({ reason: "x".repeat(1_100_000) });
    isAdminError(await admin().post("/admin/v1/exceptions").set(auth()).set("Content-Type", "application/json").send(big), 413, "PAYLOAD_TOO_LARGE");
  });

  it("when a parameter is invalid on the audit, lifecycle or fan-out routes, then 400 BAD_REQUEST in the admin shape", async () => {
    isAdminError(await admin().get("/admin/v1/audit").query({ limit: "abc" }).set(auth()), 400, "BAD_REQUEST");
    isAdminError(await admin().post("/admin/v1/audit/verify").set(auth()).send({ fromChainIndex: -1 }), 400, "BAD_REQUEST");
    isAdminError(await admin().get("/admin/v1/reviews").query({ status: "nope" }).set(auth()), 400, "BAD_REQUEST");
    isAdminError(await admin().get("/admin/v1/leavers").query({ limit: "0" }).set(auth()), 400, "BAD_REQUEST");
    isAdminError(await admin().get("/admin/v1/apps/%ff").set(auth()), 400, "BAD_REQUEST");
  });

  it("when an admin resource is missing, then 404 NOT_FOUND in the admin shape", async () => {
    isAdminError(await admin().get("/admin/v1/apps/nope").set(auth()), 404, "NOT_FOUND");
    isAdminError(await admin().get("/admin/v1/reviews/00000000-0000-0000-0000-000000000000").set(auth()), 404, "NOT_FOUND");
  });

  it("when the same classes of error hit /scim/v2, then they stay RFC 7644 §3.12 bodies", async () => {
    for (const res of [await admin().get("/scim/v2/Users"), await admin().get("/scim/v2/Nope").set(auth()), await admin().delete("/scim/v2/Users").set(auth())]) {
      expect(res.headers["content-type"]).to.match(/^application\/scim\+json/);
      expect(res.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
      expect(res.body).to.not.have.property("error");
    }
  });
});
