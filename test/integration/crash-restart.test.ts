// Restart after `kill -9`: the broker runs as `npm start` does (the compiled dist/main.js, embedded PostgreSQL in its own
// data directory), HR writes keep coming while a slow loopback app receives deliveries, and the broker is
// killed with SIGKILL. Its PostgreSQL outlives it; the next start on the same data directory must adopt it
// (not fail on its lock), every acknowledged write must be there, and the deliveries that were in flight —
// including batch jobs superseded by newer writes just before the kill — must reach the app within seconds,
// not after the five-minute orphan sweep, with no job left at its maximum attempts.
import { expect } from "chai";
import pg from "pg";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { freePort, startChildBroker, type ChildBroker } from "../helpers/broker-process.ts";
import { startEmbeddedPostgres } from "../../src/store/embedded-postgres.ts";
import { accountIn, eventually, FAST_ENV, person, policyYaml, writePolicy } from "./fanout-harness.ts";

const TOKEN = "crash-restart-bootstrap-token-0123456789";
const USERS = 24;
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe("process: restart after kill -9 on embedded PostgreSQL", function () {
  this.timeout(180_000);
  let app: StrictScimApp;
  let dir: string;
  let env: Record<string, string>;
  let policy: Awaited<ReturnType<typeof writePolicy>>;
  let broker: ChildBroker | undefined;
  let pgPort: number;

  before(async () => {
    app = await startStrictApp();
    const p = policyYaml([{ name: "strict", app }]);
    policy = await writePolicy(p.yaml);
    dir = await mkdtemp(join(tmpdir(), "broker-crash-"));
    pgPort = await freePort();
    env = { ...FAST_ENV, ...p.env, BROKER_DATA_DIR: dir, BROKER_EMBEDDED_PG_PORT: String(pgPort), BROKER_CONFIG: policy.file, BROKER_BOOTSTRAP_TOKEN: TOKEN, BROKER_LOG_LEVEL: "warn" };
  });
  after(async () => {
    await broker?.stop();
    // whatever happened above, leave no postmaster behind (adopt it, then stop it)
    await startEmbeddedPostgres({ dataDir: dir, port: pgPort }).then((e) => e.stop()).catch(() => {});
    await app?.stop();
    await policy?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it("when killed mid-delivery and restarted, then it adopts its PostgreSQL, keeps every acknowledged write, and finishes in-flight deliveries within seconds", async () => {
    broker = await startChildBroker(env);
    const headers = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/scim+json" };
    const send = (method: string, path: string, body: unknown) => fetch(`${broker!.url}/scim/v2${path}`, { method, headers, body: JSON.stringify(body) });
    const ids: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const res = await send("POST", "/Users", person(`crash-${i}@example.com`));
      expect(res.status).to.equal(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    await eventually(() => expect([...app.users.values()].length).to.equal(USERS), 30_000);

    // HR keeps writing (one sequential stream per user) while the app answers slowly; then kill -9.
    app.delayMs = 150;
    const acknowledged = new Map<string, string>();
    let killed = false;
    const writers = ids.map(async (id, i) => {
      for (let n = 1; !killed; n++) {
        const value = `v${n}-${i}`;
        const res = await send("PATCH", `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "displayName", value }] }).catch(() => null);
        if (res?.status === 200) acknowledged.set(id, value);
        else if (!killed) throw new Error(`PATCH → ${res?.status}`);
      }
    });
    const seen = app.requests.length;
    await eventually(() => expect(app.requests.length).to.be.greaterThan(seen + 40), 30_000, 10); // deliveries under way
    killed = true;
    await broker.kill9();
    await Promise.all(writers);
    const pid = Number((await readFile(join(dir, "pg", "postmaster.pid"), "utf8")).split("\n")[0]);
    expect(() => process.kill(pid, 0), "the embedded PostgreSQL outlived the killed broker").to.not.throw();

    app.delayMs = 0;
    const restarted = Date.now();
    broker = await startChildBroker(env, { timeoutMs: 30_000 });
    const readyMs = Date.now() - restarted;
    expect(broker.output()).to.not.include("failed to start");

    // Every acknowledged write is there (a write in flight at the kill may have landed too: the next value).
    const current = new Map<string, string>();
    for (const id of ids) {
      const res = await fetch(`${broker.url}/scim/v2/Users/${id}`, { headers });
      expect(res.status).to.equal(200);
      const value = ((await res.json()) as { displayName: string }).displayName;
      const ack = acknowledged.get(id);
      if (ack) {
        const [n, i] = ack.slice(1).split("-").map(Number);
        expect([ack, `v${n! + 1}-${i}`], `user ${i}`).to.include(value);
      }
      current.set(id, value);
    }
    // The app ends with the broker's state for every user, within seconds of the restart.
    await eventually(() => {
      for (const [i, id] of ids.entries()) expect(accountIn(app, `crash-${i}@example.com`)?.displayName, `crash-${i}`).to.equal(current.get(id));
    }, 20_000, 50);
    const deliveredMs = Date.now() - restarted;
    const url = `postgresql://postgres:${encodeURIComponent((await readFile(join(dir, "pg-password"), "utf8")).trim())}@127.0.0.1:${pgPort}/broker`;
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const stuck = await eventually(async () => {
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE attempts >= max_attempts`);
        expect(rows[0].n, "jobs at their maximum attempts").to.equal(0);
        const pending = await db.query(`SELECT count(*)::int AS n FROM app_account WHERE status = 'pending'`);
        expect(pending.rows[0].n, "deliveries still owed").to.equal(0);
        return rows[0].n;
      }, 20_000, 100);
      expect(stuck).to.equal(0);
    } finally { await db.end(); }
    console.log(`      (${acknowledged.size} users with acknowledged writes at the kill; ready ${readyMs} ms after restart; app up to date ${deliveredMs} ms after restart)`);
  });
});
