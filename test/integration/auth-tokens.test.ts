// Bearer tokens (RFC 6750) at the edge of both APIs: never accepted from the URL (§2.3; it would end up in
// logs and proxies), never logged, revoked in the revoking process the moment `token revoke` returns and in
// every other broker process the moment PostgreSQL's notification reaches it (verified tokens are cached
// until then), and rate-limited per token with 429 + Retry-After in each API's own error shape.
import { expect } from "chai";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { loadConfig } from "../../src/config/config.ts";
import { openCliDatabase } from "../../src/admin/cli-database.ts";
import { TokenStore, type TokenInfo } from "../../src/auth/token-store.ts";
import pg from "pg";

/** Resolves when this broker has dropped the token from its cache (its notification arrived). */
const dropped = (t: TestBroker, tokenId: () => string | undefined) => new Promise<void>((resolve) => {
  const off = t.broker.tokens.onChange((id) => { if (id === tokenId()) { off(); resolve(); } });
});
/**
 * Creates a token through broker `t` and resolves once every broker in `heard` has received the insert's
 * notification: a request that races it reads the row but does not cache it (the cache's generation guard),
 * so a test that expects a token cached must not ask before then.
 */
const createHeard = async (t: TestBroker, heard: TestBroker[], input: { name: string; scopes: string[] }) => {
  const seen = heard.map(() => new Set<string>());
  const offs = heard.map((h, i) => h.broker.tokens.onChange((id) => { seen[i]!.add(id); }));
  const created = await t.broker.tokens.create(input);
  await Promise.all(heard.map((h, i) => seen[i]!.has(created.info.id) ? undefined : dropped(h, () => created.info.id)));
  offs.forEach((off) => off());
  return created;
};
const scimStatus = async (t: TestBroker, token: string) => (await request(t.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status;

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

  it("when a token is served from memory on two brokers and revoked on one, then the revoking broker refuses it at once and the other as soon as its notification arrives", async () => {
    await a.broker.tokens.whenCaching();
    await b.broker.tokens.whenCaching();
    const { token, info } = await createHeard(a, [a, b], { name: "cached-feed", scopes: ["scim:read"] });
    for (const broker of [a, b]) for (let i = 0; i < 2; i++) expect(await scimStatus(broker, token)).to.equal(200);
    expect(a.broker.tokens.isCached(token) && b.broker.tokens.isCached(token), "both brokers hold the token in memory").to.equal(true);
    const onB = dropped(b, () => info.id);
    const revoked = await request(a.url).delete("/admin/v1/tokens/cached-feed").set("Authorization", `Bearer ${a.token}`);
    expect(revoked.status).to.equal(200);
    expect(await scimStatus(a, token)).to.equal(401); // the revoking process: when revoke returns
    await onB; // the other process: PostgreSQL's notification, no timer
    expect(b.broker.tokens.isCached(token)).to.equal(false);
    expect(await scimStatus(b, token)).to.equal(401);
  });

  it("when a broker's listening connection breaks, then it stops serving tokens from memory at once, refuses a token revoked meanwhile, and caches again once it listens again", async () => {
    await b.broker.tokens.whenCaching();
    const { token } = await createHeard(a, [b], { name: "outage-feed", scopes: ["scim:read"] });
    expect(await scimStatus(b, token)).to.equal(200);
    expect(b.broker.tokens.isCached(token)).to.equal(true);
    const state = (want: boolean) => new Promise<void>((resolve) => { const off = b.broker.tokens.onCacheState((live) => { if (live === want) { off(); resolve(); } }); });
    const lost = state(false);
    const sql = new pg.Client({ connectionString: a.databaseUrl });
    await sql.connect();
    try {
      // every LISTEN connection on this database (both brokers'): notifications sent now reach nobody
      await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`);
      await lost;
      const back = state(true);
      expect(b.broker.tokens.isCached(token)).to.equal(false);
      await sql.query(`UPDATE api_token SET revoked_at = now() WHERE name = 'outage-feed'`);
      expect(await scimStatus(b, token)).to.equal(401); // read from the database: no cache while not listening
      await back;
    } finally { await sql.end(); }
    const { token: fresh } = await createHeard(a, [b], { name: "outage-feed-2", scopes: ["scim:read"] });
    expect(await scimStatus(b, fresh)).to.equal(200);
    expect(b.broker.tokens.isCached(fresh)).to.equal(true);
  });

  it("when a token row is changed by plain SQL (another tool), then every broker drops it from memory and reads it again", async () => {
    const { token, info } = await a.broker.tokens.create({ name: "sql-feed", scopes: ["scim:read"] });
    for (const broker of [a, b]) expect(await scimStatus(broker, token)).to.equal(200);
    const both = Promise.all([dropped(a, () => info.id), dropped(b, () => info.id)]);
    const sql = new pg.Client({ connectionString: a.databaseUrl });
    await sql.connect();
    try { await sql.query(`UPDATE api_token SET scopes = '{admin}' WHERE id = $1`, [info.id]); } finally { await sql.end(); }
    await both;
    // read again: the token now has only `admin`, which the SCIM read route also accepts; the list of scopes is new
    expect(await scimStatus(b, token)).to.equal(200);
    expect((await b.broker.tokens.verify(token))?.scopes).to.deep.equal(["admin"]);
    const sql2 = new pg.Client({ connectionString: a.databaseUrl });
    await sql2.connect();
    const gone = Promise.all([dropped(a, () => info.id), dropped(b, () => info.id)]);
    try { await sql2.query(`DELETE FROM api_token WHERE id = $1`, [info.id]); } finally { await sql2.end(); }
    await gone;
    for (const broker of [a, b]) expect(await scimStatus(broker, token)).to.equal(401);
  });

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

  it("when a token is revoked through one broker's admin API, then the next request with it on the other broker after its notification is 401", async () => {
    const created = await request(a.url).post("/admin/v1/tokens").set("Authorization", `Bearer ${a.token}`).send({ name: "hr-feed", scopes: ["scim:read"] });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const token = created.body.token as string;
    for (const broker of [a, b]) for (let i = 0; i < 3; i++) expect((await request(broker.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(200);
    const onB = dropped(b, () => created.body.id);
    const revoked = await request(a.url).delete("/admin/v1/tokens/hr-feed").set("Authorization", `Bearer ${a.token}`);
    expect(revoked.status, JSON.stringify(revoked.body)).to.equal(200);
    expect(revoked.body).to.include({ name: "hr-feed" });
    expect(revoked.body.revokedAt).to.be.a("string");
    await onB;
    expect((await request(b.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    expect((await request(a.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    const list = await request(b.url).get("/admin/v1/tokens").set("Authorization", `Bearer ${b.token}`);
    expect(list.body.items.find((t: any) => t.name === "hr-feed").revokedAt).to.be.a("string");
    expect(JSON.stringify(list.body)).to.not.include(token);
  });

  it("when a token is revoked by the CLI's code path, then the next request with it on either broker after its notification is 401", async () => {
    const { token, info } = await a.broker.tokens.create({ name: "okta", scopes: ["scim:write"] });
    for (const broker of [a, b]) expect((await request(broker.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(200);
    const onBoth = Promise.all([dropped(a, () => info.id), dropped(b, () => info.id)]);
    const db = await openCliDatabase(loadConfig({ DATABASE_URL: a.databaseUrl })); // what `scim-broker token revoke okta` runs
    try { await new TokenStore(db.prisma).revoke("okta"); } finally { await db.close(); }
    await onBoth; // each broker's notification of the CLI's commit
    expect((await request(b.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
    expect((await request(a.url).get("/scim/v2/Users").set("Authorization", `Bearer ${token}`)).status).to.equal(401);
  });
});
