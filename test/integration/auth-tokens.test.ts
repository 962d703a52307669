// Bearer tokens (RFC 6750) at the edge of both APIs: never accepted from the URL (§2.3; it would end up in
// logs and proxies), never logged, revoked in every broker process the moment `token revoke` returns, and
// rate-limited per token with 429 + Retry-After in each API's own error shape.
import { expect } from "chai";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { loadConfig } from "../../src/config/config.ts";
import { openCliDatabase } from "../../src/admin/cli-database.ts";
import { TokenStore } from "../../src/auth/token-store.ts";

describe("auth: tokens in URLs, logs and revocation", function () {
  this.timeout(60_000);
  let a: TestBroker, b: TestBroker;
  const lines: string[] = [];
  before(async () => {
    const log = createLogger({ level: "debug", destination: { write: (s: string) => { lines.push(s); } } });
    a = await startTestBroker({ log });
    b = await startTestBroker({ databaseUrl: a.databaseUrl, log }); // a second broker process on the same database
  });
  after(async () => { await b?.stop(); await a?.stop(); });

  it("when a valid token arrives as ?access_token=, then SCIM and admin routes answer 401 in their own shape, and no log line carries it", async () => {
    const scim = await request(a.url).get("/scim/v2/Users").query({ access_token: a.token });
    expect(scim.status).to.equal(401);
    expect(scim.body.schemas).to.deep.equal(["urn:ietf:params:scim:api:messages:2.0:Error"]);
    expect(scim.body.detail).to.match(/Authorization header/);
    expect(scim.headers["www-authenticate"]).to.match(/^Bearer/);
    // refused even next to a valid header: the URL has already leaked the token
    const both = await request(a.url).get("/scim/v2/Users").query({ access_token: a.token }).set("Authorization", `Bearer ${a.token}`);
    expect(both.status).to.equal(401);
    const admin = await request(a.url).get("/admin/v1/audit").query({ access_token: a.token });
    expect(admin.status).to.equal(401);
    expect(admin.body.error.code).to.equal("UNAUTHORIZED");
    expect(lines.length, "the broker logged the refusals").to.be.greaterThan(0);
    const all = lines.join("");
    expect(all).to.not.include(a.token);
    expect(all).to.not.include("access_token=");
  });

  it("when a token is revoked through one broker's admin API, then the very next request with it on the other broker is 401", async () => {
    const created = await request(a.url).post("/admin/v1/tokens").set("Authorization", `Bearer ${a.token}`).send({ name: "hr-feed", scopes: ["scim:read"] });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const token = created.body.token as string;
    for (const broker of [a, b]) for (let i = 0; i < 3; i++) expect((await request(broker.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(200);
    const revoked = await request(a.url).delete("/admin/v1/tokens/hr-feed").set("Authorization", `Bearer ${a.token}`);
    expect(revoked.status, JSON.stringify(revoked.body)).to.equal(200);
    expect(revoked.body).to.include({ name: "hr-feed" });
    expect(revoked.body.revokedAt).to.be.a("string");
    expect((await request(b.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    expect((await request(a.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    const list = await request(b.url).get("/admin/v1/tokens").set("Authorization", `Bearer ${b.token}`);
    expect(list.body.items.find((t: any) => t.name === "hr-feed").revokedAt).to.be.a("string");
    expect(JSON.stringify(list.body)).to.not.include(token);
  });

  it("when a token is revoked by the CLI's code path, then the very next request with it on either broker is 401", async () => {
    const { token } = await a.broker.tokens.create({ name: "okta", scopes: ["scim:write"] });
    for (const broker of [a, b]) expect((await request(broker.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(200);
    const db = await openCliDatabase(loadConfig({ DATABASE_URL: a.databaseUrl })); // what `scim-broker token revoke okta` runs
    try { await new TokenStore(db.prisma).revoke("okta"); } finally { await db.close(); }
    expect((await request(b.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    expect((await request(a.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
  });
});
