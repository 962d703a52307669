// Crash safety: the broker runs as a child process (as `npm start` runs it: the compiled dist/main.js) delivering 1,000
// leavers to 5 apps; it is killed with SIGKILL mid-delivery and started again on the same database. Every
// leaver must end disabled in every app — none lost, none waiting for graphile-worker's 4-hour lock
// timeout — and no account created twice.
import { expect } from "chai";
import pg from "pg";
import { LEAVER_TASK } from "../../src/jobs/fanout-jobs.ts";
import { createTestDatabase } from "../helpers/db.ts";
import { startQuirkyApp, type QuirkyScimApp } from "../helpers/fake-apps/quirky-app.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { eventually, FAST_ENV, inParallel, person, policyYaml, spawnBroker, writePolicy, type BrokerProcess } from "./fanout-harness.ts";

const USERS = 1000;
const TOKEN = "crash-test-bootstrap-token-0123456789";

describe("fan-out: kill -9 in the middle of delivering 1,000 leavers to 5 apps", function () {
  this.timeout(240_000);
  let apps: Array<StrictScimApp | QuirkyScimApp> = [];
  let db: { url: string; drop(): Promise<void> };
  let policy: Awaited<ReturnType<typeof writePolicy>>;
  let broker: BrokerProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    apps = [await startStrictApp(), await startStrictApp(), await startStrictApp(), await startQuirkyApp(), await startQuirkyApp({ patch: "no-content" })];
    const p = policyYaml(apps.map((app, i) => ({ name: `app${i}`, app })));
    policy = await writePolicy(p.yaml);
    db = await createTestDatabase();
    // Fewer workers than HR's 16 concurrent requests: at most 6 leavers are on the fast path at once and the
    // rest go to per-app jobs, so the kill catches both (guarantee jobs left behind, jobs locked by workers).
    env = { ...FAST_ENV, ...p.env, DATABASE_URL: db.url, BROKER_CONFIG: policy.file, BROKER_BOOTSTRAP_TOKEN: TOKEN, BROKER_WORKER_CONCURRENCY: "6" };
  });
  after(async () => {
    await broker?.stop();
    await Promise.all(apps.map((a) => a.stop()));
    await db?.drop();
    await policy?.cleanup();
  });

  const activeCount = (app: StrictScimApp | QuirkyScimApp) => [...app.users.values()].filter((u) => u.active !== false).length;

  it("when restarted, then every leaver is disabled in every app, none lost, none duplicated", async () => {
    const t0 = Date.now();
    broker = await spawnBroker(env);
    const headers = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/scim+json" };
    const ids: string[] = [];
    await inParallel(16, USERS, async (i) => {
      const res = await fetch(`${broker!.url}/scim/v2/Users`, { method: "POST", headers, body: JSON.stringify(person(`crash${i}@example.com`)) });
      expect(res.status).to.equal(201);
      ids[i] = ((await res.json()) as { id: string }).id;
    });
    await eventually(() => { for (const app of apps) expect(activeCount(app)).to.equal(USERS); }, 90_000, 100);
    const joined = Date.now();

    // Slow the apps down (200 ms a request) so that the kill lands in the middle of the leavers' deliveries —
    // while HR is still sending them: the broker delivers a leaver the moment its change commits (the leaver
    // fast path), so the kill must catch both the fast path and the jobs. HR retries what got no 200 (below).
    // At 200 ms the fast path (at most 6 leavers at once) takes ≤ 30 leavers a second, well below what HR's 16
    // concurrent PATCHes commit even on a slow machine, so per-app jobs always pile up behind it.
    for (const app of apps) app.delayMs = 200;
    const answered = new Set<number>();
    let killed = false;
    const leavers = inParallel(16, USERS, async (i) => {
      if (killed) return;
      const res = await fetch(`${broker!.url}/scim/v2/Users/${ids[i]}`, {
        method: "PATCH", headers, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }),
      }).catch(() => null); // the broker was killed under it
      if (res?.status === 200) answered.add(i);
    });
    const disabledAt = () => apps.reduce((n, app) => n + (USERS - activeCount(app)), 0);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      // Which work is in flight right now: leavers on the fast path leave a guarantee job, deliveries run as
      // jobs locked by a worker. The kill waits until both are there (with the apps slowed, they are within
      // milliseconds of the first leavers), so it never depends on where a fixed 5% mark happens to fall.
      const inFlight = async () => {
        const { rows } = await pool.query(
          `SELECT count(*) FILTER (WHERE task_identifier = $1)::int AS guards, count(*) FILTER (WHERE locked_by IS NOT NULL)::int AS locked FROM graphile_worker.jobs`, [LEAVER_TASK]);
        return rows[0] as { guards: number; locked: number };
      };
      await eventually(async () => {
        expect(disabledAt()).to.be.greaterThan(USERS * 5 * 0.05);
        const now = await inFlight();
        expect(now.guards, "leavers on the fast path").to.be.greaterThan(0);
        expect(now.locked, "deliveries running as jobs").to.be.greaterThan(0);
      }, 60_000, 20);
      const before = disabledAt();
      killed = true;
      await broker.kill9();
      await leavers;
      expect(before, "killed mid-delivery").to.be.lessThan(USERS * 5 * 0.9);

      // The database still holds the dead worker's locked jobs and leases.
      const { rows } = await pool.query(`SELECT locked_by, count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by IS NOT NULL GROUP BY locked_by`);
      const locked = rows.reduce((n, r) => n + (r.n as number), 0);
      const deadPools = rows.map((r) => r.locked_by as string);
      // leavers the dead process was delivering itself (the leaver fast path): their guarantee jobs remain
      const { guards } = await inFlight();
      expect(guards, "the kill caught leavers on the fast path").to.be.greaterThan(0);
      expect(locked, "and deliveries running as jobs").to.be.greaterThan(0);
      for (const app of apps) app.delayMs = 0;
      const restarted = Date.now();
      broker = await spawnBroker(env);
      // HR sends again what the dead broker did not answer (a change it committed is found already made)
      const retried = ids.map((_, i) => i).filter((i) => !answered.has(i));
      await inParallel(16, retried.length, async (k) => {
        const res = await fetch(`${broker!.url}/scim/v2/Users/${ids[retried[k]!]}`, {
          method: "PATCH", headers, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }),
        });
        expect(res.status).to.equal(200);
      });
      await eventually(() => { for (const app of apps) expect(activeCount(app), app.url).to.equal(0); }, 120_000, 100);
      const recoveryMs = Date.now() - restarted; // a reported figure, not a bound
      console.log(`      (joiners: ${joined - t0} ms incl. start; killed after ${answered.size}/${USERS} leavers answered and ${before}/${USERS * 5} deprovisions, with ${locked} locked jobs and ${guards} fast-path guarantees; HR re-sent ${retried.length}; all done ${recoveryMs} ms after restart)`);
      // Not graphile-worker's 4-hour lock timeout: the new process released the dead one's locked jobs.
      const recovered = broker.logLines().filter((l) => l.code === "FANOUT_WORKER_RECOVERED");
      expect(recovered.flatMap((l) => l.pools as string[]), "the dead process's pool released").to.include.members(deadPools);
      expect(recovered.reduce((n, l) => n + (l.jobs as number), 0), "every job it had locked").to.equal(locked);
      expect((await pool.query(`SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE locked_by = ANY($1::text[])`, [deadPools])).rows[0].n, "none still locked by it").to.equal(0);

      for (const app of apps) {
        expect(app.users.size, `${app.url}: one account per user`).to.equal(USERS);
        expect(app.requestsTo("POST", "/Users").filter((r) => r.status === 201)).to.have.length(USERS);
      }
      const sla = await eventually(async () => {
        const r = await pool.query(`SELECT count(*) FILTER (WHERE completed_at IS NOT NULL)::int AS done, count(*)::int AS total FROM leaver_sla`);
        expect(r.rows[0].done).to.equal(r.rows[0].total);
        return r.rows[0];
      }, 30_000);
      expect(sla.total).to.equal(USERS);
      const accounts = await pool.query(`SELECT status, count(*)::int AS n FROM app_account GROUP BY status`);
      expect(accounts.rows).to.deep.equal([{ status: "deprovisioned", n: USERS * 5 }]);
    } finally {
      await pool.end();
    }
  });
});
