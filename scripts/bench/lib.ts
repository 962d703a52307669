// Shared helpers for the benchmarks: a fresh database, the broker as a child process (the load generator
// runs in this process, beside it, as a real client would) or in this process, the loopback SCIM apps,
// request timing, percentiles, and the RSS and CPU time of a process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { createInterface } from "node:readline";
import { Pool } from "undici";
import pg from "pg";
import type { Broker } from "../../src/broker.ts";

export const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as any).port; s.close(() => resolve(p)); }); });

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
export function summary(name: string, ms: number[], wallMs?: number) {
  const s = [...ms].sort((a, b) => a - b);
  const rate = wallMs ? ` ${(ms.length / (wallMs / 1000)).toFixed(0)} req/s` : "";
  console.log(`${name.padEnd(34)} n=${ms.length}${rate}  p50=${percentile(s, 50).toFixed(2)} ms  p99=${percentile(s, 99).toFixed(2)} ms  max=${s[s.length - 1]!.toFixed(2)} ms`);
}
export const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};

/**
 * The broker as `npm start` runs it — `npm run build` (incremental), then node dist/main.js — plus node flags
 * such as --cpu-prof; fails if it exits or is not ready in 2 minutes.
 */
export async function startBrokerProcess(env: Record<string, string>, nodeArgs: string[] = []): Promise<{ proc: ChildProcess; url: string; stop(): Promise<void> }> {
  const port = await freePort();
  execFileSync("npm", ["run", "--silent", "build"], { stdio: ["ignore", "ignore", "inherit"] });
  const proc = spawn(process.execPath, [...nodeArgs, "dist/main.js"], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", BROKER_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`broker exited with ${proc.exitCode}`);
    try { if ((await fetch(`${url}/readyz`)).ok) break; } catch { /* starting */ }
    if (i > 600) throw new Error("broker did not get ready in 2 minutes");
    await new Promise((r) => setTimeout(r, 200));
  }
  return { proc, url, stop: () => new Promise<void>((r) => { if (proc.exitCode !== null) return r(); proc.once("exit", () => r()); proc.kill("SIGTERM"); }) };
}

/** CPU time (user + system) a process has used, in ms (Linux /proc/<pid>/stat fields 14 and 15; USER_HZ is 100). */
export function cpuMs(pid: number): number {
  return kernelMs(pid, true) + kernelMs(pid);
}

/** CPU time (ms) a process has spent in the kernel (system calls: here mostly loopback TCP); `user` for the rest. */
export function kernelMs(pid: number, user = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[user ? 11 : 12]) * 1000) / 100;
  } catch { return 0; }
}

/**
 * A TCP proxy in front of PostgreSQL that holds every chunk `delayMs` in each direction: the database one
 * network hop away (a round trip costs ≈ 2 × delayMs more), as with DATABASE_URL in production, for figures
 * that depend on the number of round trips rather than on CPU. Runs in the load generator's process (only for
 * measurements at concurrency 1, where that process is idle). Hand-written: Linux's netem, which would do it
 * in the kernel, is not available on every machine, and a dozen lines of node:net are enough.
 */
export async function startDelayProxy(target: URL, delayMs: number): Promise<{ url: URL; close(): void }> {
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    // As PostgreSQL and node-postgres do on their own sockets: no Nagle delay on small writes.
    client.setNoDelay(true); upstream.setNoDelay(true);
    // Timers of the same delay fire in the order they were set: each direction keeps its byte order.
    client.on("data", (b) => setTimeout(() => upstream.write(b), delayMs));
    upstream.on("data", (b) => setTimeout(() => client.write(b), delayMs));
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on("close", end); upstream.on("close", end); client.on("error", end); upstream.on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = new URL(target); url.hostname = "127.0.0.1"; url.port = String((server.address() as { port: number }).port);
  return { url, close: () => server.close() };
}

/** CPU time (ms) of every PostgreSQL process on this machine (the server's backends, WAL writer, checkpointer…). */
export function postgresCpuMs(): number {
  let sum = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try { if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") sum += cpuMs(Number(pid)); } catch { /* exited */ }
  }
  return sum;
}

/** CPU time (ms) this process (the load generator) has used. */
export const ownCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

export interface AppsProcess { control: string; token: string; pid: number; apps: Array<{ name: string; group: string; url: string }>; stop(): void }

/** The loopback SCIM apps (fanout-apps.ts) in their own process, so they never share the broker's or the load generator's event loop. */
export async function startApps(groups: string[]): Promise<AppsProcess> {
  const proc = spawn(process.execPath, ["--import", "tsx", "scripts/bench/fanout-apps.ts", ...groups], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once("line", resolve);
    proc.once("exit", (c) => reject(new Error(`apps process exited ${c}`)));
  });
  const info = JSON.parse(line);
  return { control: `http://127.0.0.1:${info.control}`, token: info.token, pid: proc.pid!, apps: info.apps, stop: () => proc.kill("SIGTERM") };
}

/** Runs `total` requests with `concurrency` workers; returns per-request latencies and wall time. */
export async function load(concurrency: number, total: number, fn: (i: number) => Promise<void>) {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const s = performance.now();
      await fn(i);
      lat.push(performance.now() - s);
    }
  }));
  return { lat, wall: performance.now() - t0 };
}

export function httpClient(url: string, token: string, connections = 32) {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/scim+json" };
  return {
    async req(method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE", path: string, body?: unknown) {
      const r = await pool.request({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.body.text();
      if (r.statusCode >= 400) throw new Error(`${method} ${path} → ${r.statusCode} ${text.slice(0, 200)}`);
      return text ? JSON.parse(text) : undefined;
    },
    close: () => pool.close(),
  };
}

/** A new empty database `<prefix>_<now>` on the server of `adminUrl`; drop() removes it, closing its connections. */
export async function freshDatabase(adminUrl: string, prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Date.now()}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try { await c.query(sql); } finally { await c.end(); }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl); url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * A fresh database on `adminUrl` and the broker built on it in this process (workers off unless `env` says
 * otherwise), plus a plain client for filling it; everything is stopped and the database dropped afterwards.
 */
export async function withBenchBroker<T>(
  adminUrl: string, name: string, o: { poolSize: number; env?: Record<string, string> },
  fn: (broker: Broker, db: pg.Client, dbName: string) => Promise<T>,
): Promise<T> {
  const { createBroker } = await import("../../src/broker.ts");
  const { loadConfig } = await import("../../src/config/config.ts");
  const { createLogger } = await import("../../src/shared/logger.ts");
  const database = await freshDatabase(adminUrl, `broker_${name}`);
  try {
    const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", BROKER_WORKERS: "false", BROKER_LOG_LEVEL: "warn", BROKER_DB_POOL_SIZE: String(o.poolSize), ...o.env });
    const broker = await createBroker(config, { databaseUrl: database.url, log: createLogger({ level: "warn" }) });
    try {
      const db = new pg.Client({ connectionString: database.url });
      await db.connect();
      try { return await fn(broker, db, database.name); } finally { await db.end(); }
    } finally {
      await broker.stop();
    }
  } finally {
    await database.drop();
  }
}

/** The floor's first part: 300 commits of a one-row INSERT on one connection (ms each), as an HR write's commit. */
export async function measureCommits(pool: pg.Pool): Promise<number[]> {
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_floor (id serial primary key, at timestamptz default now())`);
  const commit: number[] = [];
  const client = await pool.connect();
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await client.query("BEGIN");
    await client.query("INSERT INTO bench_floor DEFAULT VALUES");
    await client.query("COMMIT");
    commit.push(performance.now() - t);
  }
  client.release();
  return commit;
}
