// Fan-out benchmark (issue: outbound fan-out). Not part of `npm test`; run with
//   node --import tsx scripts/bench/fanout-bench.ts
// Three processes: the broker (as `npm start` runs it: dist/main.js, a child process, on a fresh database of BENCH_ADMIN_URL —
// default the machine's PostgreSQL on 127.0.0.1:5432), the loopback SaaS apps (scripts/bench/fanout-apps.ts,
// another child process: they must not share the broker's event loop), and this load generator.
//
// 1. Floor, measured in this run: one PostgreSQL commit (BEGIN; INSERT; COMMIT on the same server), one
//    parallel round trip to the 20 apps (20 concurrent PATCHes over keep-alive connections, from here), and
//    graphile-worker add_job → task start (informational).
// 2. Leaver latency: BENCH_LEAVERS users (default 250) provisioned to 20 apps, then one HR PATCH
//    active=false at a time; latency = the instant the LAST of the 20 apps applied the disable (recorded
//    by the apps) − the instant before this process sent the PATCH. p50/p99 beside the floor; also the
//    broker's own leaver SLA (GET /admin/v1/leavers: change record → last confirmation).
// 3. Outage: BENCH_OUTAGE_APPS apps (default 5); one of them goes down for BENCH_OUTAGE_S seconds (default
//    20) — connection refused, then (a second run) hung connections that never answer — while
//    BENCH_OUTAGE_LEAVERS leavers (default 20) are sent evenly over the outage. Leaver SLA = the instant the
//    last app disabled it − the HR PATCH; also when the broker quarantined and released the app, and how
//    long after the app came back the last leaver was confirmed.
// 4. Drain: BENCH_DRAIN_USERS users (default 10,000) created with the workers off, then a broker with
//    workers on delivers them to BENCH_DRAIN_APPS apps (default 10) from scratch (lookup by userName, then
//    create): deliveries per second, from the first to the last request the apps received.
// BENCH_PHASES (default "latency,outage,drain") picks the phases. BENCH_DB_DELAY_MS=n (latency phase): PostgreSQL n ms away in
// each direction, through a proxy (lib.ts startDelayProxy), for the broker and for the floor's commit.
import pg from "pg";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { Logger as WorkerLogger, run as runWorker, type Runner } from "graphile-worker";
import { type AppsProcess, cpuMs, freshDatabase, httpClient, load, measureCommits, percentile, rssMb, startApps, startBrokerProcess, startDelayProxy } from "./lib.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const LAT_APPS = Number(process.env.BENCH_APPS ?? 20);
const LEAVERS = Number(process.env.BENCH_LEAVERS ?? 250);
const DRAIN_USERS = Number(process.env.BENCH_DRAIN_USERS ?? 10_000);
const DRAIN_APPS = Number(process.env.BENCH_DRAIN_APPS ?? 10);
const WORKERS = process.env.BENCH_WORKERS ?? "32";
const OUTAGE_APPS = Number(process.env.BENCH_OUTAGE_APPS ?? 5);
const OUTAGE_S = Number(process.env.BENCH_OUTAGE_S ?? 20);
const OUTAGE_LEAVERS = Number(process.env.BENCH_OUTAGE_LEAVERS ?? 20);
const PHASES = new Set((process.env.BENCH_PHASES ?? "latency,outage,drain").split(","));
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const epoch = () => performance.timeOrigin + performance.now();

async function policyFile(dir: string, apps: AppsProcess["apps"], name: string): Promise<string> {
  const lines = ["groups: []", "guards:", "  massDeprovision: { maxUsers: 1000000, maxPercent: 100 }", "apps:"];
  for (const a of apps) lines.push(`  - name: ${a.name}`, `    url: ${a.url}`, `    auth: { type: bearer, token: "\${BENCH_APP_TOKEN}" }`);
  const file = join(dir, name);
  await writeFile(file, lines.join("\n") + "\n");
  return file;
}

/** Progress stopped: say what the database holds (jobs, accounts, app health) instead of waiting silently. */
async function stalled(dbUrl: string, what: unknown): Promise<void> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const q = async (sql: string) => JSON.stringify((await c.query(sql)).rows);
    console.log(`STALLED ${JSON.stringify(what)}`);
    console.log(" jobs", await q(`SELECT task_identifier, count(*)::int n, count(locked_by)::int locked, min(run_at) next, max(attempts) attempts, max(last_error) err FROM graphile_worker.jobs GROUP BY 1`));
    console.log(" accounts", await q(`SELECT status, count(*)::int n, count(lease_owner)::int leased FROM app_account GROUP BY 1`));
    console.log(" apps", await q(`SELECT app, disabled, quarantined, consecutive_failures, last_error->>'code' code FROM app_state WHERE quarantined OR consecutive_failures > 0 OR disabled`));
    console.log(" sessions", await q(`SELECT state, wait_event_type, wait_event, left(query, 100) q FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'`));
  } finally { await c.end(); }
}

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
};
const fmt = (x: { n: number; p50: number; p99: number; max: number }) => `n=${x.n}  p50=${x.p50.toFixed(2)} ms  p99=${x.p99.toFixed(2)} ms  max=${x.max.toFixed(2)} ms`;
const json = async (url: string) => (await fetch(url)).json() as Promise<any>;

async function main() {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const dir = await mkdtemp(join(tmpdir(), "fanout-bench-"));
  const apps = await startApps([`lat:${LAT_APPS}`, `drain:${DRAIN_APPS}`, `out:${OUTAGE_APPS}`]);
  const latApps = apps.apps.filter((a) => a.group === "lat");
  const drainApps = apps.apps.filter((a) => a.group === "drain");
  const dbs: Array<Awaited<ReturnType<typeof freshDatabase>>> = [];
  const freshDb = async (tag: string) => { const d = await freshDatabase(ADMIN_URL, `broker_fanout_${tag}`); dbs.push(d); return d.url; };
  const token = `bench-${crypto.randomUUID()}-token`;
  const env = (url: string, file: string, extra: Record<string, string> = {}) => ({
    DATABASE_URL: url, BROKER_CONFIG: file, BROKER_BOOTSTRAP_TOKEN: token, BENCH_APP_TOKEN: apps.token, BROKER_DB_POOL_SIZE: "40",
    BROKER_WORKER_CONCURRENCY: WORKERS, BROKER_FANOUT_RECONCILE_INTERVAL: "off", BROKER_LOG_LEVEL: process.env.BENCH_LOG ?? "error", ...extra,
  });
  console.log(`PostgreSQL: ${(await admin.query("select version()")).rows[0].version.split(",")[0]}; ${LAT_APPS} + ${DRAIN_APPS} loopback apps in their own process; broker workers ${WORKERS}`);
  try {
    if (PHASES.has("latency")) await latencyPhase();
    if (PHASES.has("outage")) for (const mode of (process.env.BENCH_OUTAGE_MODES ?? "refuse,hang").split(",") as Array<"refuse" | "hang">) {
      const url = await freshDb(`out_${mode}`);
      await outagePhase(apps, url, env, await policyFile(dir, apps.apps.filter((a) => a.group === "out"), `out-${mode}.yaml`), token, mode);
    }
    if (PHASES.has("drain")) await drainPhase();
  } finally {
    apps.stop();
    if (!process.env.BENCH_KEEP_DB) for (const d of dbs) await d.drop().catch(() => {});
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }

  async function latencyPhase() {
    // ---------------- leaver latency ----------------
    // BENCH_DB_DELAY_MS=n: the broker (and the floor's commit) reach PostgreSQL n ms away in each direction.
    const proxy = process.env.BENCH_DB_DELAY_MS ? await startDelayProxy(new URL(await freshDb("lat")), Number(process.env.BENCH_DB_DELAY_MS)) : null;
    const latUrl = proxy ? proxy.url.toString() : await freshDb("lat");
    const broker = await startBrokerProcess(env(latUrl, await policyFile(dir, latApps, "lat.yaml")), process.env.BENCH_PROFILE ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []);
    const http = httpClient(broker.url, token, 16);
    try {
      const floor = await measureFloor(latUrl, latApps, apps.token);
      const ids: string[] = [];
      const names = Array.from({ length: LEAVERS + 20 }, (_, i) => `leaver${i}.${Date.now().toString(36)}@example.com`);
      await load(8, names.length, async (i) => { ids[i] = (await http.req("POST", "/scim/v2/Users", userBody(names[i]!))).id; });
      for (let since = Date.now(), last = -1; ;) {
        const s = await json(`${apps.control}/_stats?group=lat`);
        if (s.active >= names.length * LAT_APPS) break;
        if (s.active !== last) { last = s.active; since = Date.now(); }
        else if (Date.now() - since > 20_000) { await stalled(latUrl, s); since = Date.now(); }
        await new Promise((r) => setTimeout(r, 200));
      }
      const lat: number[] = [], hr: number[] = [], first: number[] = [];
      for (let i = 0; i < names.length; i++) {
        const t0 = epoch();
        await http.req("PATCH", `/scim/v2/Users/${ids[i]}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
        const t1 = epoch();
        const waited = json(`${apps.control}/_wait?group=lat&n=${LAT_APPS}&userName=${encodeURIComponent(names[i]!)}`);
        const watchdog = setTimeout(() => void stalled(latUrl, { leaver: names[i] }), 20_000);
        const { times } = await waited;
        clearTimeout(watchdog);
        if (i < 20) continue; // the first 20 warm up connections and JIT
        lat.push(Math.max(...times) - t0);
        hr.push(t1 - t0);
        first.push(Math.min(...times) - t0);
      }
      const leaver = stats(lat);
      const sla = (await (await fetch(`${broker.url}/admin/v1/leavers?limit=1`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
      const floorP50 = floor.commit.p50 + floor.fanout.p50, floorP99 = floor.commit.p99 + floor.fanout.p99;
      console.log("\n== floor (same run) ==");
      console.log(`PostgreSQL commit                  ${fmt(floor.commit)}`);
      console.log(`parallel round trip to ${LAT_APPS} apps     ${fmt(floor.fanout)}`);
      console.log(`graphile-worker add_job → start    ${fmt(floor.pickup)}   (informational)`);
      console.log(`floor = commit + round trip        p50=${floorP50.toFixed(2)} ms  p99=${floorP99.toFixed(2)} ms`);
      console.log(`\n== leaver latency: HR PATCH active=false → all ${LAT_APPS} apps disabled ==`);
      console.log(`measured at the apps               ${fmt(leaver)}`);
      console.log(`  of which the HR PATCH response   ${fmt(stats(hr))}`);
      console.log(`  first app disabled               ${fmt(stats(first))}`);
      console.log(`vs floor                           p50 ${(leaver.p50 / floorP50).toFixed(1)}×  p99 ${(leaver.p99 / floorP99).toFixed(1)}×   (target p99 ≤ 100 ms and ≤ 3× floor)`);
      console.log(`broker's leaver SLA (API)          p50=${sla.summary.p50Ms} ms  p99=${sla.summary.p99Ms} ms  completed=${sla.summary.completed}`);
      console.log(`broker RSS ${rssMb(broker.proc.pid!).toFixed(0)} MB`);
    } finally {
      await http.close();
      await broker.stop();
      proxy?.close();
    }
  }

  async function drainPhase() {
    // ---------------- drain ----------------
    const drainUrl = await freshDb("drain");
    const file = await policyFile(dir, drainApps, "drain.yaml");
    const loader = await startBrokerProcess(env(drainUrl, file, { BROKER_WORKERS: "false" }));
    const http2 = httpClient(loader.url, token, 16);
    const tLoad = performance.now();
    try {
      await load(16, DRAIN_USERS, async (i) => { await http2.req("POST", "/scim/v2/Users", userBody(`drain${i}@example.com`)); });
    } finally {
      await http2.close();
      await loader.stop();
    }
    console.log(`\n== drain: ${DRAIN_USERS} users × ${DRAIN_APPS} apps from scratch ==`);
    console.log(`(${DRAIN_USERS} users created through SCIM with workers off in ${((performance.now() - tLoad) / 1000).toFixed(1)} s; ${DRAIN_USERS * DRAIN_APPS} deliveries queued)`);
    const drainDb = new pg.Client({ connectionString: drainUrl });
    await drainDb.connect();
    const drainer = await startBrokerProcess(env(drainUrl, file), process.env.BENCH_PROFILE ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []);
    const t0 = epoch();
    let peakRss = 0;
    // CPU of the three parties (this machine is shared: only our broker, our apps and the PostgreSQL
    // backends connected to the drain database count), sampled over the drain.
    const backends = async () => (await drainDb.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows.map((r) => r.pid as number);
    const cpu0 = new Map<number, number>();
    let lastActive = -1, lastProgress = Date.now();
    const note = (pid: number) => { if (!cpu0.has(pid)) cpu0.set(pid, cpuMs(pid)); };
    try {
      for (;;) {
        peakRss = Math.max(peakRss, rssMb(drainer.proc.pid!));
        note(drainer.proc.pid!); note(apps.pid);
        for (const pid of await backends()) note(pid);
        const s = await json(`${apps.control}/_stats?group=drain`);
        if (s.active >= DRAIN_USERS * DRAIN_APPS) {
          const seconds = (s.lastAt - s.firstAt) / 1000;
          const used = (pid: number) => cpuMs(pid) - (cpu0.get(pid) ?? 0);
          const pgMs = [...cpu0.keys()].filter((p) => p !== drainer.proc.pid && p !== apps.pid).reduce((n, p) => n + used(p), 0);
          const per = (ms: number) => `${(ms / s.active).toFixed(2)} ms`;
          console.log(`delivered ${s.active} accounts with ${s.requests} requests in ${seconds.toFixed(1)} s (first→last request at the apps): ${(s.active / seconds).toFixed(0)} deliveries/s`);
          console.log(`(${((epoch() - t0) / 1000).toFixed(1)} s from broker ready to all confirmed; broker peak RSS ${peakRss.toFixed(0)} MB)`);
          console.log(`CPU per delivery: broker ${per(used(drainer.proc.pid!))}, PostgreSQL ${per(pgMs)}, apps ${per(used(apps.pid))}`);
          break;
        }
        if (s.active !== lastActive) { lastActive = s.active; lastProgress = Date.now(); }
        else if (Date.now() - lastProgress > 20_000) {
          const act = await drainDb.query(`SELECT state, wait_event_type, wait_event, left(query, 160) AS q, now() - query_start AS age FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
          const jobs = await drainDb.query(`SELECT task_identifier, count(*), count(locked_by) AS locked, min(run_at) AS next, max(attempts) AS attempts, max(last_error) AS err FROM graphile_worker.jobs GROUP BY 1`);
          console.log("STALLED", JSON.stringify(s), JSON.stringify(act.rows, null, 1), JSON.stringify(jobs.rows, null, 1));
          console.log((await (await fetch(`${drainer.url}/metrics`)).text()).split("\n").filter((l) => l.startsWith("broker_fanout")).join("\n"));
          lastProgress = Date.now();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await drainDb.end();
      await drainer.stop();
    }
  }
}

/**
 * One app down for OUTAGE_S seconds (`refuse`: connection refused; `hang`: requests never answered) while
 * leavers are sent evenly over the outage; everything else as `npm start` runs it (default quarantine
 * threshold, probe interval and backoff). Prints the leavers' SLA and the broker's quarantine timeline.
 */
async function outagePhase(apps: AppsProcess, dbUrl: string, env: (url: string, file: string) => Record<string, string>, file: string, token: string, mode: "refuse" | "hang") {
  const outApps = apps.apps.filter((a) => a.group === "out");
  const victim = outApps[0]!.name;
  const broker = await startBrokerProcess(env(dbUrl, file));
  const http = httpClient(broker.url, token, 8);
  const admin = async () => ((await (await fetch(`${broker.url}/admin/v1/apps/${victim}`, { headers: { authorization: `Bearer ${token}` } })).json()) as any);
  try {
    const names = Array.from({ length: OUTAGE_LEAVERS }, (_, i) => `out-${mode}${i}.${Date.now().toString(36)}@example.com`);
    const ids: string[] = [];
    await load(8, names.length, async (i) => { ids[i] = (await http.req("POST", "/scim/v2/Users", userBody(names[i]!))).id; });
    while ((await json(`${apps.control}/_stats?group=out`)).active < names.length * outApps.length) await new Promise((r) => setTimeout(r, 200));

    // The broker's view of the app, sampled every 100 ms: when it quarantined it and when it released it.
    const timeline: Array<{ at: number; status: string }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const status = (await admin()).status as string;
        if (timeline.at(-1)?.status !== status) timeline.push({ at: epoch(), status });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const down = (await json(`${apps.control}/_outage?app=${victim}&mode=${mode}`)).at as number;
    const sent: number[] = [];
    const confirmed: Array<Promise<{ times: number[] }>> = [];
    for (let i = 0; i < names.length; i++) {
      const due = down + (i * OUTAGE_S * 1000) / names.length;
      await new Promise((r) => setTimeout(r, Math.max(0, due - epoch())));
      sent[i] = epoch();
      await http.req("PATCH", `/scim/v2/Users/${ids[i]}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
      confirmed[i] = json(`${apps.control}/_wait?group=out&n=${outApps.length}&userName=${encodeURIComponent(names[i]!)}`);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, down + OUTAGE_S * 1000 - epoch())));
    const back = (await json(`${apps.control}/_outage?app=${victim}&mode=off`)).at as number;
    const watchdog = setTimeout(() => void stalled(dbUrl, { outage: mode }), 120_000);
    const done = await Promise.all(confirmed);
    clearTimeout(watchdog);
    watching = false;
    await watcher;
    const sla = done.map((d, i) => (Math.max(...d.times) - sent[i]!) / 1000);
    const lastConfirmed = Math.max(...done.map((d) => Math.max(...d.times)));
    const at = (t: number) => `${((t - down) / 1000).toFixed(1)} s`;
    const s = [...sla].sort((a, b) => a - b);
    console.log(`\n== outage (${mode === "refuse" ? "connection refused" : "hung connections"}): 1 of ${outApps.length} apps down ${OUTAGE_S} s, ${names.length} leavers sent over the outage ==`);
    console.log(`leaver SLA (HR PATCH → all ${outApps.length} apps disabled)  p50=${percentile(s, 50).toFixed(1)} s  max=${s.at(-1)!.toFixed(1)} s  (first leaver: ${sla[0]!.toFixed(1)} s)`);
    console.log(`app back at ${at(back)}; last leaver confirmed ${((lastConfirmed - back) / 1000).toFixed(1)} s after it came back`);
    console.log(`broker's view: ${timeline.map((e) => `${e.status} at ${at(e.at)}`).join(", ")}`);
  } finally {
    await http.close();
    await broker.stop();
  }
}

/** One commit; 20 parallel PATCHes to the apps; graphile-worker pickup — each 300 times. */
async function measureFloor(dbUrl: string, apps: AppsProcess["apps"], appToken: string) {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const commit = await measureCommits(pool);

  // The apps' own users: one per app, then 20 parallel PATCHes of it.
  const agent = new Agent({ connections: 2, keepAliveTimeout: 30_000 });
  const headers = { authorization: `Bearer ${appToken}`, "content-type": "application/scim+json" };
  const ids = await Promise.all(apps.map(async (a) => {
    const r = await request(`${a.url}/Users`, { method: "POST", headers, body: JSON.stringify({ schemas: [USER], userName: `floor@${a.name}` }), dispatcher: agent });
    return ((await r.body.json()) as { id: string }).id;
  }));
  const fanout: number[] = [];
  for (let i = 0; i < 320; i++) {
    const t = performance.now();
    await Promise.all(apps.map(async (a, k) => {
      const r = await request(`${a.url}/Users/${ids[k]}`, { method: "PATCH", headers, dispatcher: agent, body: JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: i % 2 === 0 }] }) });
      await r.body.text();
    }));
    if (i >= 20) fanout.push(performance.now() - t);
  }
  await agent.close();

  const pickup: number[] = [];
  let started: (() => void) | undefined;
  const runner: Runner = await runWorker({ pgPool: pool, concurrency: 1, noHandleSignals: true, pollInterval: 1000, taskList: { bench_floor: async () => started?.() }, logger: new WorkerLogger(() => () => {}) });
  for (let i = 0; i < 200; i++) {
    const done = new Promise<void>((r) => (started = r));
    const t = performance.now();
    await pool.query(`SELECT graphile_worker.add_job('bench_floor', '{}'::json)`);
    await done;
    pickup.push(performance.now() - t);
  }
  await runner.stop();
  await pool.end();
  return { commit: stats(commit), fanout: stats(fanout), pickup: stats(pickup) };
}

function userBody(userName: string) {
  return { schemas: [USER], userName, active: true, name: { givenName: "Bench", familyName: userName.split("@")[0] }, emails: [{ value: userName, type: "work", primary: true }] };
}

main().catch((e) => { console.error(e); process.exit(1); });
