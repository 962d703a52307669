// Soak: a steady open-loop rate of mixed SCIM traffic for minutes against the broker as `npm start` runs it,
// with a reference server beside it on the same schedule. Not part of `npm test`; run with `npm run bench:soak`.
//
//   the broker   a child process (dist/main.js, as `npm start` runs it) on its own embedded PostgreSQL in a temporary data directory
//                (what `npm start` does), or on a fresh database of BENCH_ADMIN_URL when that is set; a policy
//                with three rule-managed groups, so movers and leavers run the lifecycle;
//   the mix      creates, GET by id, userName filters, department movers (PATCH), leavers (PATCH active=false),
//                list pages, group reads — issued on a fixed schedule (open loop: a slow answer does not slow the
//                arrivals, and latency is measured from the scheduled instant, so queueing shows);
//   reference    a plain express server in its own process, sent the same request kinds on the same schedule
//                (a canned JSON answer): the floor of loopback HTTP and Node on this machine under this load.
// Prints errors (must be 0), p50/p99 per kind for both, and the RSS of both processes at start and end.
//
// BENCH_SOAK_SECONDS (default 300), BENCH_SOAK_RATE (requests/s to each server, default 200),
// BENCH_SOAK_USERS (population before the run, default 2000), BENCH_ADMIN_URL (external PostgreSQL).
import express from "express";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { cpuMs, freePort, freshDatabase, percentile, rssMb, startBrokerProcess } from "./lib.ts";

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 300);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 200);
const POPULATION = Number(process.env.BENCH_SOAK_USERS ?? 2000);
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const DEPTS = ["Finance", "Engineering", "Sales"];
const POLICY = `groups:
${DEPTS.map((d) => `  - name: ${d.toLowerCase()}\n    when: department eq "${d}" and active eq true`).join("\n")}
guards:
  massDeprovision: { maxUsers: 1000000, maxPercent: 100, window: 1h }
`;

/** The request kinds and their share of the traffic (sums to 100). */
const MIX = [["create", 15], ["get", 25], ["filter", 20], ["mover", 15], ["leaver", 5], ["list", 15], ["group", 5]] as const;
type Kind = (typeof MIX)[number][0];

if (process.argv[2] === "--reference") {
  // The reference: express with a JSON body parser and a canned SCIM-sized answer, nothing else.
  const app = express();
  app.use(express.json({ type: ["application/json", "application/scim+json"] }));
  const body = JSON.stringify({ schemas: [USER], id: randomUUID(), userName: "reference@example.com", active: true, meta: { resourceType: "User" } });
  app.use((_req, res) => { res.type("application/scim+json").send(body); });
  app.listen(Number(process.argv[3]), "127.0.0.1");
} else {
  main().catch((e) => { console.error(e); process.exit(1); });
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "broker-soak-"));
  await chmod(dir, 0o755); // as root, PostgreSQL runs as the postgres OS user, which must reach the data directory
  const policy = join(dir, "broker.yaml");
  await writeFile(policy, POLICY);
  const token = `soak-${randomUUID()}`;
  let dbEnv: Record<string, string>;
  let dropDb = async () => {};
  if (process.env.BENCH_ADMIN_URL) {
    const database = await freshDatabase(process.env.BENCH_ADMIN_URL, "broker_soak");
    dbEnv = { DATABASE_URL: database.url };
    dropDb = database.drop;
  } else {
    dbEnv = { BROKER_DATA_DIR: join(dir, "data"), BROKER_EMBEDDED_PG_PORT: String(await freePort()) };
  }
  if (!process.env.BENCH_ADMIN_URL) delete process.env.DATABASE_URL; // the child inherits the environment
  const broker = await startBrokerProcess({ ...dbEnv, BROKER_BOOTSTRAP_TOKEN: token, BROKER_CONFIG: policy });
  const refPort = await freePort();
  const ref = spawn(process.execPath, ["--import", "tsx", "scripts/bench/soak.ts", "--reference", String(refPort)], { stdio: ["ignore", "inherit", "inherit"] });
  const refUrl = `http://127.0.0.1:${refPort}`;
  for (let i = 0; i < 100; i++) { try { await fetch(refUrl); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }

  const brokerHttp = new Pool(broker.url, { connections: 64 });
  const refHttp = new Pool(refUrl, { connections: 64 });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/scim+json" };
  const call = async (pool: Pool, method: "GET" | "POST" | "PATCH", path: string, body?: unknown) => {
    const r = await pool.request({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    if (r.statusCode >= 400) throw new Error(`${method} ${path.split("?")[0]} → ${r.statusCode} ${text.slice(0, 160)}`);
    return text;
  };

  try {
    // Population, through Bulk (100 per request).
    const active: string[] = [];
    const userNames: string[] = [];
    for (let i = 0; i < POPULATION; i += 100) {
      const ops = Array.from({ length: Math.min(100, POPULATION - i) }, (_, k) => ({ method: "POST", path: "/Users", bulkId: `b${i + k}`, data: person(`pop${i + k}`, DEPTS[(i + k) % 3]!) }));
      const out = JSON.parse(await call(brokerHttp, "POST", "/scim/v2/Bulk", { schemas: [BULK], Operations: ops })) as { Operations: Array<{ status: string; location: string }> };
      for (const [k, o] of out.Operations.entries()) {
        if (o.status !== "201") throw new Error(`bulk create → ${o.status}`);
        active.push(o.location.split("/").pop()!);
        userNames.push(`pop${i + k}`);
      }
    }
    const groupIds = (JSON.parse(await call(brokerHttp, "GET", "/scim/v2/Groups?attributes=displayName")) as { Resources: Array<{ id: string }> }).Resources.map((g) => g.id);
    const pick = <T>(a: readonly T[]) => a[Math.floor(Math.random() * a.length)]!;

    const request = (kind: Kind, seq: number): { method: "GET" | "POST" | "PATCH"; path: string; body?: unknown; after?: (text: string) => void } => {
      switch (kind) {
        case "create": {
          const tag = `soak${seq}`;
          return { method: "POST", path: "/scim/v2/Users", body: person(tag, pick(DEPTS)), after: (t) => { active.push(JSON.parse(t).id); userNames.push(tag); } };
        }
        case "get": return { method: "GET", path: `/scim/v2/Users/${pick(active)}` };
        case "filter": return { method: "GET", path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${pick(userNames)}@example.com"`)}` };
        case "mover": return { method: "PATCH", path: `/scim/v2/Users/${pick(active)}`, body: { schemas: [PATCH_OP], Operations: [{ op: "replace", path: `${ENT}:department`, value: pick(DEPTS) }] } };
        case "leaver": {
          const id = active.splice(Math.floor(Math.random() * active.length), 1)[0]!;
          return { method: "PATCH", path: `/scim/v2/Users/${id}`, body: { schemas: [PATCH_OP], Operations: [{ op: "replace", path: "active", value: false }] } };
        }
        case "list": return { method: "GET", path: `/scim/v2/Users?startIndex=${1 + Math.floor(Math.random() * 1000)}&count=50` };
        case "group": return { method: "GET", path: `/scim/v2/Groups/${pick(groupIds)}?excludedAttributes=members` };
      }
    };
    const kinds: Kind[] = MIX.flatMap(([k, n]) => Array<Kind>(n).fill(k));

    // warm-up (JIT, connections, caches), then RSS at start
    for (let i = 0; i < 200; i++) await call(brokerHttp, "GET", `/scim/v2/Users/${pick(active)}`);
    const rssStart = { broker: rssMb(broker.proc.pid!), reference: rssMb(ref.pid!) };
    const loadStart = loadavg()[0]!;
    const cpuStart = { broker: cpuMs(broker.proc.pid!), reference: cpuMs(ref.pid!) };

    const lat = { broker: new Map<Kind, number[]>(), reference: new Map<Kind, number[]>() };
    const errors: string[] = [];
    let inflight = 0, maxInflight = 0;
    const samples: Array<{ t: number; rss: number }> = [];
    const total = Math.round(SECONDS * RATE);
    const t0 = performance.now();
    const interval = 1000 / RATE;
    const pending: Promise<void>[] = [];
    const sampler = setInterval(() => samples.push({ t: Math.round((performance.now() - t0) / 1000), rss: rssMb(broker.proc.pid!) }), 30_000);
    for (let i = 0; i < total; i++) {
      const due = t0 + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait)); // the schedule, not synchronisation
      const kind = kinds[i % kinds.length]!;
      const r = request(kind, i);
      const send = (target: "broker" | "reference", pool: Pool) => {
        inflight++; maxInflight = Math.max(maxInflight, inflight);
        return call(pool, r.method, r.path, r.body).then((text) => {
          const list = lat[target].get(kind) ?? [];
          list.push(performance.now() - due); // from the scheduled instant: queueing counts
          lat[target].set(kind, list);
          if (target === "broker") r.after?.(text);
        }, (e) => { if (target === "broker" || errors.length < 50) errors.push(`${target}: ${(e as Error).message}`); })
          .finally(() => { inflight--; });
      };
      pending.push(send("broker", brokerHttp), send("reference", refHttp)); // open loop: never wait for answers here
    }
    await Promise.all(pending);
    clearInterval(sampler);
    const wall = (performance.now() - t0) / 1000;
    const rssEnd = { broker: rssMb(broker.proc.pid!), reference: rssMb(ref.pid!) };
    const cpuPerRequest = { broker: (cpuMs(broker.proc.pid!) - cpuStart.broker) / total, reference: (cpuMs(ref.pid!) - cpuStart.reference) / total };

    console.log(`\nsoak: ${total} requests to each server in ${wall.toFixed(0)} s (${(total / wall).toFixed(0)} req/s each), mix ${MIX.map(([k, n]) => `${k} ${n}%`).join(", ")}`);
    console.log(`population ${POPULATION} users before the run, ${active.length} active after; max in flight ${maxInflight}; load average ${loadStart.toFixed(1)} → ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`);
    console.log(`errors: ${errors.length}${errors.length ? `\n  ${[...new Set(errors)].slice(0, 10).join("\n  ")}` : ""}`);
    console.log(`${"kind".padEnd(8)} ${"n".padStart(6)}  ${"broker p50".padStart(10)} ${"p99".padStart(8)}   ${"reference p50".padStart(13)} ${"p99".padStart(8)}  (ms)`);
    for (const [kind] of MIX) {
      const b = [...(lat.broker.get(kind) ?? [])].sort((x, y) => x - y), r = [...(lat.reference.get(kind) ?? [])].sort((x, y) => x - y);
      console.log(`${kind.padEnd(8)} ${String(b.length).padStart(6)}  ${percentile(b, 50).toFixed(2).padStart(10)} ${percentile(b, 99).toFixed(2).padStart(8)}   ${percentile(r, 50).toFixed(2).padStart(13)} ${percentile(r, 99).toFixed(2).padStart(8)}`);
    }
    const all = (m: Map<Kind, number[]>) => [...m.values()].flat().sort((x, y) => x - y);
    const ab = all(lat.broker), ar = all(lat.reference);
    console.log(`${"all".padEnd(8)} ${String(ab.length).padStart(6)}  ${percentile(ab, 50).toFixed(2).padStart(10)} ${percentile(ab, 99).toFixed(2).padStart(8)}   ${percentile(ar, 50).toFixed(2).padStart(13)} ${percentile(ar, 99).toFixed(2).padStart(8)}`);
    console.log(`RSS broker: ${rssStart.broker.toFixed(0)} MB at start, ${rssEnd.broker.toFixed(0)} MB at end (samples every 30 s: ${samples.map((s) => s.rss.toFixed(0)).join(", ")})`);
    console.log(`RSS reference: ${rssStart.reference.toFixed(0)} MB at start, ${rssEnd.reference.toFixed(0)} MB at end`);
    console.log(`CPU per request (process only, PostgreSQL not counted): broker ${cpuPerRequest.broker.toFixed(2)} ms, reference ${cpuPerRequest.reference.toFixed(2)} ms`);
    process.exitCode = errors.length ? 1 : 0;
  } finally {
    await brokerHttp.close();
    await refHttp.close();
    ref.kill("SIGTERM");
    await broker.stop();
    await dropDb();
    await rm(dir, { recursive: true, force: true });
  }
}

function person(tag: string, department: string) {
  const userName = `${tag}@example.com`;
  return {
    schemas: [USER, ENT], userName, active: true, name: { givenName: "Soak", familyName: tag },
    emails: [{ value: userName, type: "work", primary: true }], [ENT]: { department, employeeNumber: tag },
  };
}
