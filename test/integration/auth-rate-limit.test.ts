// Per-token request rate limits: each token's own rate (or the broker's default), a token bucket driven by
// the injected clock, 429 with Retry-After in the SCIM shape on /scim/v2 and the admin shape on /admin/v1.
import { expect } from "chai";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { ManualClock } from "../../src/domain/clock.ts";

describe("auth: per-token request rate limits", function () {
  this.timeout(60_000);
  const clock = new ManualClock(new Date("2026-12-04T10:00:00Z"));
  let t: TestBroker;
  before(async () => { t = await startTestBroker({ clock, env: { BROKER_TOKEN_RATE_LIMIT: "5" } }); });
  after(async () => { await t.stop(); });

  const get = (path: string, token: string) => request(t.url).get(path).set("Authorization", `Bearer ${token}`);
  const create = async (body: Record<string, unknown>) => {
    const res = await request(t.url).post("/admin/v1/tokens").set("Authorization", `Bearer ${t.token}`).send(body);
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { token: string; rateLimit: number | null };
  };

  it("when a token exceeds its own rate on SCIM routes, then 429 with Retry-After and a SCIM body; a second later it is served again", async () => {
    const { token, rateLimit } = await create({ name: "hr-slow", scopes: ["scim:read"], rate: 2 });
    expect(rateLimit).to.equal(2);
    for (let i = 0; i < 2; i++) expect((await get("/scim/v2/Users", token)).status).to.equal(200);
    const limited = await get("/scim/v2/Users", token);
    expect(limited.status).to.equal(429);
    expect(limited.headers["retry-after"]).to.equal("1");
    expect(limited.headers["content-type"]).to.match(/^application\/scim\+json/);
    expect(limited.body).to.include({ status: "429" });
    expect(limited.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
    expect(limited.body.detail).to.match(/2 requests per second/);
    // another token is not affected
    expect((await get("/scim/v2/Users", t.readToken)).status).to.equal(200);
    clock.advance(1000);
    for (let i = 0; i < 2; i++) expect((await get("/scim/v2/Users", token)).status).to.equal(200);
    expect((await get("/scim/v2/Users", token)).status).to.equal(429);
  });

  it("when an admin token exceeds its rate, then 429 with Retry-After in the admin error shape", async () => {
    const { token } = await create({ name: "ops", scopes: ["admin"], rate: 1 });
    expect((await get("/admin/v1/audit", token)).status).to.equal(200);
    const limited = await get("/admin/v1/audit", token);
    expect(limited.status).to.equal(429);
    expect(limited.headers["retry-after"]).to.equal("1");
    expect(limited.body).to.deep.equal({ error: { code: "TOO_MANY_REQUESTS", message: limited.body.error.message } });
  });

  it("when a token has no rate of its own, then the broker's default applies; `off` means unlimited", async () => {
    const { token, rateLimit } = await create({ name: "default-rate", scopes: ["scim:read"] });
    expect(rateLimit).to.equal(null);
    for (let i = 0; i < 5; i++) expect((await get("/scim/v2/ServiceProviderConfig", token)).status).to.equal(200);
    expect((await get("/scim/v2/ServiceProviderConfig", token)).status).to.equal(429);
    const { token: bulk } = await create({ name: "initial-load", scopes: ["scim:read"], rate: "off" });
    for (let i = 0; i < 20; i++) expect((await get("/scim/v2/ServiceProviderConfig", bulk)).status).to.equal(200);
  });

  it("when the rate is not a positive whole number or off, then 400 naming the field", async () => {
    const res = await request(t.url).post("/admin/v1/tokens").set("Authorization", `Bearer ${t.token}`).send({ name: "bad", scopes: ["scim:read"], rate: -3 });
    expect(res.status).to.equal(400);
    expect(res.body.error.message).to.match(/^rate must be/);
  });
});
