// Shared by the fan-out tests: fake SaaS apps as real SCIM servers on loopback (strict on scimmy, quirky),
// a broker.yaml naming them (tokens through ${VAR}, as in production), the broker (in-process, workers on)
// or as child processes, and `eventually` to wait for the apps' final state — never for calls.
import pg from "pg";
import request from "supertest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { startChildBroker, type ChildBroker } from "../helpers/broker-process.ts";
import { REDACT_PATHS, type Logger } from "../../src/shared/logger.ts";
import type { Clock } from "../../src/domain/clock.ts";
import { scimClient, USER_SCHEMA, ENTERPRISE_SCHEMA } from "../helpers/scim.ts";
import type { FakeScimServer } from "../helpers/fake-apps/harness.ts";

export { USER_SCHEMA, ENTERPRISE_SCHEMA };

export interface AppSpec {
  name: string;
  app: FakeScimServer;
  /** extra YAML lines for the app entry (indented by the caller's convention: "    key: value") */
  extra?: string[];
  groups?: string[];
  /** the `auth:` value as YAML flow (default: bearer with a ${TOKEN_<NAME>} reference) */
  auth?: string;
}

/** broker.yaml with managed groups by department and one entry per app; tokens come from ${VAR}s. */
export function policyYaml(apps: AppSpec[], groups: Record<string, string> = { finance: "Finance", engineering: "Engineering" }, guard = "{ maxUsers: 100000, maxPercent: 100 }"): { yaml: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const lines = ["groups:"];
  for (const [name, dept] of Object.entries(groups)) lines.push(`  - name: ${name}`, `    when: department eq "${dept}" and active eq true`);
  // The mass-deprovision guard would hold these tests' leavers (each is 100 % of its source): out of scope here.
  lines.push("guards:", `  massDeprovision: ${guard}`, apps.length ? "apps:" : "apps: []");
  for (const a of apps) {
    const v = `TOKEN_${a.name.toUpperCase().replace(/-/g, "_")}`;
    env[v] = a.app.auth.bearer ?? "";
    lines.push(`  - name: ${a.name}`, `    url: ${a.app.url}`, `    auth: ${a.auth ?? `{ type: bearer, token: "\${${v}}" }`}`);
    if (a.groups?.length) lines.push(`    groups: [${a.groups.join(", ")}]`);
    for (const l of a.extra ?? []) lines.push(`    ${l}`);
  }
  return { yaml: lines.join("\n") + "\n", env };
}

export async function writePolicy(yaml: string): Promise<{ dir: string; file: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "broker-fanout-"));
  const file = join(dir, "broker.yaml");
  await writeFile(file, yaml);
  return { dir, file, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface FanoutBroker {
  t: TestBroker;
  db: pg.Pool;
  scim: ReturnType<typeof scimClient>;
  admin: { get(path: string, query?: Record<string, unknown>): request.Test; post(path: string, body?: unknown): request.Test };
  create(userName: string, over?: Record<string, unknown>): Promise<any>;
  stop(): Promise<void>;
}

/** Fast settings for tests: probes every second, short backoff. */
export const FAST_ENV = {
  BROKER_FANOUT_PROBE_INTERVAL: "1s", BROKER_FANOUT_BACKOFF_BASE: "200ms", BROKER_FANOUT_BACKOFF_MAX: "2s",
  BROKER_FANOUT_QUARANTINE_AFTER: "4", BROKER_FANOUT_RECONCILE_INTERVAL: "off", BROKER_FANOUT_SWEEP_INTERVAL: "1s",
};

export interface FanoutBrokerOptions { env?: Record<string, string>; groups?: Record<string, string>; guard?: string; log?: Logger; clock?: Clock }

export async function startFanoutBroker(apps: AppSpec[], opts: FanoutBrokerOptions = {}): Promise<FanoutBroker> {
  const { yaml, env } = policyYaml(apps, opts.groups, opts.guard);
  const policy = await writePolicy(yaml);
  const t = await startTestBroker({ env: { BROKER_CONFIG: policy.file, ...FAST_ENV, ...env, ...opts.env }, log: opts.log, clock: opts.clock });
  const db = new pg.Pool({ connectionString: t.databaseUrl, max: 3 });
  const scim = scimClient(t.base, t.token);
  const auth = { Authorization: `Bearer ${t.token}` };
  return {
    t, db, scim,
    admin: {
      get: (path, query) => request(t.url).get(`/admin/v1${path}`).query(query ?? {}).set(auth),
      post: (path, body) => request(t.url).post(`/admin/v1${path}`).set(auth).send((body ?? {}) as object),
    },
    async create(userName, over = {}) {
      const res = await scim.post("/Users", person(userName, over));
      if (res.status !== 201) throw new Error(`POST /Users → ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async stop() { await db.end(); await t.stop(); await policy.cleanup(); },
  };
}

export function person(userName: string, over: Record<string, unknown> = {}) {
  const { department, ...rest } = over as { department?: string };
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA], userName, active: true, displayName: userName.split("@")[0],
    name: { givenName: "Given", familyName: userName.split("@")[0] }, emails: [{ value: userName, type: "work", primary: true }],
    [ENTERPRISE_SCHEMA]: { department: department ?? "Sales", employeeNumber: userName.split("@")[0] }, ...rest,
  };
}

/** A logger like the broker's (same redaction) whose lines stay in memory, for assertions on logs. */
export function capturingLogger(level = "debug"): { log: Logger; lines: Array<Record<string, unknown>>; text(): string } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level, redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines, text: () => lines.map((l) => JSON.stringify(l)).join("\n") };
}

/** Polls `check` until it returns without throwing (assertions on the apps' state), or rethrows at the deadline. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, everyMs)); // polling an outside system's state, not ordering test steps
    }
  }
}

/**
 * The sum of the /metrics samples of `name` whose labels include `labels` (0 when there is none): the signal
 * that a job ran and what it decided, e.g. broker_fanout_deliveries_total{app="crm",outcome="held"}.
 */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/gm)) {
    if (m[1] !== name) continue;
    const has = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => has[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/**
 * graphile-worker jobs still queued (or running) whose key starts with `keyPrefix` (e.g. "deliver:crm:"),
 * optionally only those whose payload names `userId` (a batch job carries several users).
 */
export async function queuedJobs(db: pg.Pool, keyPrefix: string, userId?: string): Promise<Array<{ key: string; attempts: number; locked: boolean; delayMs: number }>> {
  // delayMs: how far ahead of the database's now() the job is to run (the clock graphile-worker uses).
  const { rows } = await db.query(
    `SELECT key, attempts, locked_at IS NOT NULL AS locked, round(extract(epoch FROM run_at - now()) * 1000)::int AS "delayMs" FROM graphile_worker._private_jobs
      WHERE starts_with(key, $1) AND ($2::text IS NULL OR strpos(payload::text, $2) > 0) ORDER BY key`, [keyPrefix, userId ?? null]);
  return rows;
}

/** The app account of a broker user, found by userName (case-insensitive), or undefined. */
export function accountIn(app: { users: Map<string, Record<string, unknown>> }, userName: string): Record<string, unknown> | undefined {
  return [...app.users.values()].find((u) => String(u.userName).toLowerCase() === userName.toLowerCase());
}

export const isActiveIn = (u: Record<string, unknown> | undefined) => !!u && u.active !== false && u.active !== "False";

// ---- the broker as a child process (crash and two-broker tests) ----

export type BrokerProcess = ChildBroker;

/** `npm start` as a user runs it (the compiled dist/main.js), on DATABASE_URL; resolves once the child says it serves. */
export function spawnBroker(env: Record<string, string>): Promise<BrokerProcess> {
  return startChildBroker({ BROKER_LOG_LEVEL: "warn", ...env });
}

/** Runs `total` calls of fn with `concurrency` in flight. */
export async function inParallel(concurrency: number, total: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < total) await fn(next++); }));
}
