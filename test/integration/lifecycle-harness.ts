// Shared by the lifecycle scenario tests: a broker started with a broker.yaml written to a temp dir
// (BROKER_CONFIG), a ManualClock, no background workers (the tests run the sweep themselves, so nothing
// fires behind their back), a SCIM client, an admin API client, the CLI as a child process and a direct
// database pool for assertions.
import pg from "pg";
import request from "supertest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { scimClient, USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA } from "../helpers/scim.ts";
import { ManualClock } from "../../src/domain/clock.ts";

export const T0 = new Date("2026-03-02T09:00:00Z");
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export interface Person {
  userName?: string; active?: boolean; userType?: string; title?: string; department?: string; costCenter?: string;
  location?: string; employmentStatus?: string; startDate?: string; endDate?: string; manager?: string; sponsor?: string;
}

let n = 0;
export function personBody(p: Person = {}) {
  n++;
  const userName = p.userName ?? `p${n}.${Date.now().toString(36)}@example.com`;
  const hr: Record<string, unknown> = {};
  for (const k of ["employmentStatus", "startDate", "endDate", "location"] as const) if (p[k] !== undefined) hr[k] = p[k];
  if (p.sponsor) hr.sponsor = { value: p.sponsor };
  const ent: Record<string, unknown> = {};
  if (p.department !== undefined) ent.department = p.department;
  if (p.costCenter !== undefined) ent.costCenter = p.costCenter;
  if (p.manager) ent.manager = { value: p.manager };
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA], userName, active: p.active ?? true,
    name: { givenName: "Test", familyName: `Person${n}` }, emails: [{ value: userName, type: "work", primary: true }],
    ...(p.userType ? { userType: p.userType } : {}), ...(p.title ? { title: p.title } : {}),
    [ENTERPRISE_SCHEMA]: ent, [HR_SCHEMA]: hr,
  };
}

export interface LifecycleBroker {
  t: TestBroker; clock: ManualClock; dir: string; file: string; db: pg.Pool;
  scim: ReturnType<typeof scimClient>;
  admin: { get(path: string, query?: Record<string, unknown>): request.Test; post(path: string, body?: unknown): request.Test; del(path: string, body?: unknown): request.Test; yaml(path: string, text: string): request.Test };
  /** POST /Users; returns the created resource */
  create(p?: Person, client?: ReturnType<typeof scimClient>): Promise<any>;
  /** PATCH replace of enterprise/HR/core attributes by path */
  patch(id: string, ops: Array<{ op: string; path?: string; value?: unknown }>): Promise<any>;
  /** names of the groups the user is in (the SCIM `groups` attribute) */
  groupsOf(id: string): Promise<string[]>;
  /** broker rows of a user: "group:source" */
  rowsOf(id: string): Promise<string[]>;
  groupId(name: string): Promise<string>;
  writePolicy(yaml: string, name?: string): Promise<string>;
  /** `scim-broker …` as an operator runs it (a child process) on this broker's database; never throws */
  cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function startLifecycleBroker(yaml: string, opts: { env?: Record<string, string>; clock?: ManualClock } = {}): Promise<LifecycleBroker> {
  const dir = await mkdtemp(join(tmpdir(), "broker-lifecycle-"));
  const file = join(dir, "broker.yaml");
  await writeFile(file, yaml);
  const clock = opts.clock ?? new ManualClock(T0);
  const t = await startTestBroker({ env: { BROKER_CONFIG: file, BROKER_WORKERS: "false", ...opts.env }, clock });
  const scim = scimClient(t.base, t.token);
  const db = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  const auth = { Authorization: `Bearer ${t.token}` };
  const api = () => request(`${t.url}/admin/v1`);
  const admin = {
    get: (path: string, query?: Record<string, unknown>) => api().get(path).query(query ?? {}).set(auth),
    post: (path: string, body?: unknown) => api().post(path).set(auth).send((body ?? {}) as object),
    del: (path: string, body?: unknown) => api().delete(path).set(auth).send((body ?? {}) as object),
    yaml: (path: string, text: string) => api().post(path).set(auth).set("Content-Type", "application/yaml").send(text),
  };
  // The operator's environment without the test's policy file: the CLI reads the recorded policy, workers off.
  const { BROKER_CONFIG: _c, ...rest } = process.env;
  const cliEnv = { ...rest, DATABASE_URL: t.databaseUrl, BROKER_LOG_LEVEL: "silent", BROKER_WORKERS: "false" };
  const lb: LifecycleBroker = {
    t, clock, dir, file, db, scim, admin,
    async create(p = {}, client = scim) {
      const res = await client.post("/Users", personBody(p));
      if (res.status !== 201) throw new Error(`create → ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async patch(id, ops) {
      const res = await scim.patch(`/Users/${id}`, ops);
      if (res.status !== 200) throw new Error(`patch → ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async groupsOf(id) {
      const res = await scim.get(`/Users/${id}`);
      if (res.status !== 200) throw new Error(`get → ${res.status}`);
      return (res.body.groups ?? []).map((g: any) => g.display as string).sort();
    },
    async rowsOf(id) {
      const { rows } = await db.query(`SELECT g.display_name, gm.source FROM group_member gm JOIN scim_group g ON g.id = gm.group_id WHERE gm.user_id = $1 ORDER BY 1, 2`, [id]);
      return rows.map((r) => `${r.display_name}:${r.source}`);
    },
    async groupId(name) {
      const { rows } = await db.query(`SELECT id FROM scim_group WHERE display_name_key = lower($1)`, [name]);
      if (!rows[0]) throw new Error(`no group ${name}`);
      return rows[0].id;
    },
    async writePolicy(text, name = "next.yaml") { const f = join(dir, name); await writeFile(f, text); return f; },
    async cli(...args) {
      try {
        const r = await run(process.execPath, ["bin/scim-broker.mjs", ...args], { env: cliEnv });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (e: any) { return { code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }; }
    },
    async stop() { await db.end(); await t.stop(); await rm(dir, { recursive: true, force: true }); },
  };
  return lb;
}

export const HR = HR_SCHEMA;
export const ENT = ENTERPRISE_SCHEMA;
export const replace = (path: string, value: unknown) => ({ op: "replace", path, value });
