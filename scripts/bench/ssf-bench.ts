// SSF benchmark (issue 11): HR PATCH active=false → the leaver's session-revoked SET received at 20 push
// receivers. Not part of `npm test`; run with
//   node --import tsx scripts/bench/ssf-bench.ts
// Three processes: the broker (as `npm start` runs it: dist/main.js, a child process, on a fresh database of BENCH_ADMIN_URL —
// default the machine's PostgreSQL on 127.0.0.1:5432), the 20 loopback receivers (this script run with
// `receivers`, another child process: they must not share the broker's event loop), and this load generator.
//
// Floor, measured in this run as for the SCIM leaver benchmark (fanout-bench.ts): one PostgreSQL commit
// plus one parallel round trip to the 20 receivers (20 concurrent POSTs of a SET-sized body). Latency = the
// instant the LAST receiver got the leaver's session-revoked − the instant before the PATCH was sent.
// BENCH_RECEIVERS (default 20), BENCH_LEAVERS (default 200; the first 20 warm up); BENCH_CPU_PROF=<dir> writes
// the broker's CPU profile there (node --cpu-prof).
import pg from "pg";
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { cpuMs, freshDatabase, httpClient, load, measureCommits, percentile, startBrokerProcess } from "./lib.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const RECEIVERS = Number(process.env.BENCH_RECEIVERS ?? 20);
const LEAVERS = Number(process.env.BENCH_LEAVERS ?? 200);
const WARMUP = 20;
const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const epoch = () => performance.timeOrigin + performance.now();
const stats = (ms: number[]) => { const s = [...ms].sort((a, b) => a - b); return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1]! }; };
const fmt = (s: { n: number; p50: number; p99: number; max: number }) => `n=${s.n}  p50=${s.p50.toFixed(2)} ms  p99=${s.p99.toFixed(2)} ms  max=${s.max.toFixed(2)} ms`;

if (process.argv[2] === "receivers") await receivers();
else await main();

/** Child process: RECEIVERS push endpoints (RFC 8935: 202) recording when each leaver's session-revoked arrived, and a control port. */
async function receivers(): Promise<void> {
  const arrivals = new Map<string, number[]>(); // user id → arrival instants
  const waiters = new Map<string, () => void>();
  const ports: number[] = [];
  for (let i = 0; i < RECEIVERS; i++) {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const at = epoch();
        res.writeHead(202).end();
        // Not verified here (the tests verify signatures): this measures delivery.
        const claims = JSON.parse(Buffer.from(body.split(".")[1] ?? "", "base64url").toString("utf8") || "{}");
        if (!claims.events?.[SESSION_REVOKED]) return;
        const user = claims.sub_id?.identifiers?.find((x: any) => x.format === "iss_sub")?.sub ?? claims.sub_id?.sub;
        const list = arrivals.get(user) ?? [];
        list.push(at);
        arrivals.set(user, list);
        if (list.length >= RECEIVERS) waiters.get(user)?.();
      });
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    ports.push((server.address() as { port: number }).port);
  }
  const control = createServer(async (req, res) => {
    const user = new URL(req.url!, "http://x").searchParams.get("user")!;
    if ((arrivals.get(user)?.length ?? 0) < RECEIVERS) await new Promise<void>((r) => waiters.set(user, r));
    waiters.delete(user);
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ times: arrivals.get(user) }));
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  console.log(JSON.stringify({ control: (control.address() as { port: number }).port, ports }));
}

async function main(): Promise<void> {
  const recv = spawn(process.execPath, ["--import", "tsx", "scripts/bench/ssf-bench.ts", "receivers"], { stdio: ["ignore", "pipe", "inherit"], env: process.env });
  const info = JSON.parse(await new Promise<string>((resolve, reject) => {
    createInterface({ input: recv.stdout! }).once("line", resolve);
    recv.once("exit", (c) => reject(new Error(`receivers exited ${c}`)));
  })) as { control: number; ports: number[] };
  const dir = await mkdtemp(join(tmpdir(), "ssf-bench-"));
  const db = await freshDatabase(ADMIN_URL, "ssf_bench");
  const token = `bench-${Date.now()}-token-value`;
  try {
    const policy = join(dir, "broker.yaml");
    await writeFile(policy, ["groups: []", "guards:", "  massDeprovision: { maxUsers: 1000000, maxPercent: 100 }", "apps: []", ""].join("\n"));
    const broker = await startBrokerProcess({ DATABASE_URL: db.url, BROKER_CONFIG: policy, BROKER_BOOTSTRAP_TOKEN: token, BROKER_DATA_DIR: dir, BROKER_WORKER_CONCURRENCY: "32", BROKER_TOKEN_RATE_LIMIT: "off" },
      process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : []);
    const http = httpClient(broker.url, token, 16);
    try {
      for (const port of info.ports)
        await http.req("POST", "/ssf/stream", { delivery: { method: "urn:ietf:rfc:8935", endpoint_url: `http://127.0.0.1:${port}/events` }, events_requested: [SESSION_REVOKED] });
      const floor = await measureFloor(db.url, info.ports);
      const ids: string[] = [];
      await load(8, LEAVERS, async (i) => {
        const name = `ssf${i}.${Date.now().toString(36)}@example.com`;
        ids[i] = (await http.req("POST", "/scim/v2/Users", { schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: name, emails: [{ value: name, primary: true }], active: true })).id;
      });
      const lat: number[] = [], first: number[] = [], hr: number[] = [];
      // CPU per leaver of the broker and of its PostgreSQL backends: steadier than latency on a shared machine.
      const cpu0 = { broker: cpuMs(broker.proc.pid!), pg: await backendsCpu(db.url) };
      for (let i = 0; i < LEAVERS; i++) {
        const t0 = epoch();
        await http.req("PATCH", `/scim/v2/Users/${ids[i]}`, { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] });
        const t1 = epoch();
        const r = await request(`http://127.0.0.1:${info.control}/?user=${ids[i]}`);
        const { times } = (await r.body.json()) as { times: number[] };
        if (i < WARMUP) continue;
        lat.push(Math.max(...times) - t0);
        first.push(Math.min(...times) - t0);
        hr.push(t1 - t0);
      }
      const cpu = { broker: (cpuMs(broker.proc.pid!) - cpu0.broker) / LEAVERS, pg: ((await backendsCpu(db.url)) - cpu0.pg) / LEAVERS };
      const floorP50 = floor.commit.p50 + floor.fanout.p50, floorP99 = floor.commit.p99 + floor.fanout.p99;
      console.log("\n== floor (same run) ==");
      console.log(`PostgreSQL commit                      ${fmt(floor.commit)}`);
      console.log(`parallel round trip to ${RECEIVERS} receivers    ${fmt(floor.fanout)}`);
      console.log(`floor = commit + round trip            p50=${floorP50.toFixed(2)} ms  p99=${floorP99.toFixed(2)} ms`);
      console.log(`\n== HR PATCH → session-revoked SET at all ${RECEIVERS} receivers ==`);
      const all = stats(lat);
      console.log(`last receiver                          ${fmt(all)}`);
      console.log(`first receiver                         ${fmt(stats(first))}`);
      console.log(`HR PATCH answered                      ${fmt(stats(hr))}`);
      console.log(`CPU per leaver                         broker ${cpu.broker.toFixed(1)} ms  PostgreSQL backends ${cpu.pg.toFixed(1)} ms`);
      console.log(`vs floor                               p50 ${(all.p50 / floorP50).toFixed(1)}×  p99 ${(all.p99 / floorP99).toFixed(1)}×`);
    } finally {
      await http.close();
      await broker.stop();
    }
  } finally {
    recv.kill("SIGTERM");
    if (!process.env.BENCH_KEEP_DB) await db.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** CPU (ms) used so far by the PostgreSQL backends connected to the database (when they run on this machine). */
async function backendsCpu(dbUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    return rows.reduce((sum, r) => sum + cpuMs(r.pid), 0);
  } finally { await c.end(); }
}

async function measureFloor(dbUrl: string, ports: number[]) {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const commit = await measureCommits(pool);
  await pool.end();
  const agent = new Agent({ connections: 2, keepAliveTimeout: 30_000 });
  const body = "e30." + Buffer.from(JSON.stringify({ events: {} }).padEnd(600, " ")).toString("base64url") + ".sig";
  const fanout: number[] = [];
  for (let i = 0; i < 320; i++) {
    const t = performance.now();
    await Promise.all(ports.map(async (p) => { const r = await request(`http://127.0.0.1:${p}/events`, { method: "POST", body, headers: { "content-type": "application/secevent+jwt" }, dispatcher: agent }); await r.body.text(); }));
    if (i >= 20) fanout.push(performance.now() - t);
  }
  await agent.close();
  return { commit: stats(commit.slice(20)), fanout: stats(fanout) };
}
