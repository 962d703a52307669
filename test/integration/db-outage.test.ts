// A database outage must read as "unavailable" (503), never "not found" (404), the process must stay up,
// /readyz must fail, and service must resume by itself when the database returns.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { startEmbeddedPostgres, type EmbeddedDb } from "../../src/store/embedded-postgres.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createBroker, type Broker } from "../../src/broker.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { USER_SCHEMA } from "../helpers/scim.ts";

const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as any).port; s.close(() => resolve(p)); }); });

describe("database outage", function () {
  this.timeout(120_000);
  let dir: string, pgPort: number, pg: EmbeddedDb, broker: Broker, url: string, token: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-outage-"));
    pgPort = await freePort();
    pg = await startEmbeddedPostgres({ dataDir: dir, port: pgPort });
    broker = await createBroker(loadConfig({ BROKER_LOG_LEVEL: "silent" }), { databaseUrl: pg.url, log: createLogger({ level: "silent" }) });
    token = (await broker.tokens.create({ name: "t", scopes: ["admin"] })).token;
    url = `http://127.0.0.1:${await broker.listen(0, "127.0.0.1")}`;
  });
  after(async () => { await broker.stop(); await pg.stop().catch(() => {}); await rm(dir, { recursive: true, force: true }); });

  it("when PostgreSQL stops, then SCIM answers 503 (not 404), /readyz fails; when it returns, service resumes", async () => {
    const auth = { Authorization: `Bearer ${token}` };
    const u = await request(url).post("/scim/v2/Users").set(auth).send({ schemas: [USER_SCHEMA], userName: "outage@example.com" });
    expect(u.status).to.equal(201);
    await pg.stop();
    const got = await request(url).get(`/scim/v2/Users/${u.body.id}`).set(auth);
    expect(got.status).to.equal(503);
    expect(got.headers["content-type"]).to.match(/scim\+json/);
    expect(got.body.status).to.equal("503");
    expect((await request(url).post("/scim/v2/Users").set(auth).send({ schemas: [USER_SCHEMA], userName: "during@example.com" })).status).to.equal(503);
    expect((await request(url).get("/scim/v2/Users").set(auth)).status).to.equal(503);
    expect((await request(url).get("/readyz")).status).to.equal(503);
    expect((await request(url).get("/healthz")).status).to.equal(200);
    pg = await startEmbeddedPostgres({ dataDir: dir, port: pgPort });
    expect((await request(url).get(`/scim/v2/Users/${u.body.id}`).set(auth)).status).to.equal(200);
    expect((await request(url).get("/readyz")).status).to.equal(200);
  });
});
