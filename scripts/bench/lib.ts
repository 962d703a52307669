// Shared helpers for the benchmarks: run the broker as a child process (the load generator runs in this
// process, beside it, as a real client would), time requests, and print percentiles.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
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

export async function startBrokerProcess(env: Record<string, string>): Promise<{ proc: ChildProcess; url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", BROKER_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "inherit", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(`${url}/readyz`)).ok) break; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { proc, url, stop: () => new Promise((r) => { proc.once("exit", () => r()); proc.kill("SIGTERM"); }) };
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

/**
 * A fresh database on `adminUrl` and the broker built on it in this process (workers off), plus a plain
 * client for filling it; everything is stopped and the database dropped afterwards.
 */
export async function withBenchBroker<T>(adminUrl: string, name: string, poolSize: number, fn: (broker: Broker, db: pg.Client, dbName: string) => Promise<T>): Promise<T> {
  const { createBroker } = await import("../../src/broker.ts");
  const { loadConfig } = await import("../../src/config/config.ts");
  const { createLogger } = await import("../../src/shared/logger.ts");
  const dbName = `broker_${name}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(adminUrl); url.pathname = `/${dbName}`;
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", BROKER_WORKERS: "false", BROKER_LOG_LEVEL: "warn", BROKER_DB_POOL_SIZE: String(poolSize) });
  const broker = await createBroker(config, { databaseUrl: url.toString(), log: createLogger({ level: "warn" }) });
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  try {
    return await fn(broker, db, dbName);
  } finally {
    await db.end();
    await broker.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}
