// CSV import benchmark. Not part of `npm test`; run with
//   node --import tsx scripts/bench/import-bench.ts        (BENCH_ADMIN_URL, BENCH_SIZES=10000,100000, BENCH_CONCURRENCY)
// For each size: a generated HR export (14 default columns, managers by employeeNumber — a few named by
// rows further down —, 2 % leavers) is imported into a fresh database by the real use case
// (src/import/csv-import.ts: the SCIM user use case with rules, lifecycle, audit and the fan-out outbox),
// while the broker's workers deliver to three loopback SCIM apps (scripts/bench/fanout-apps.ts, their own
// process) as a running server would. Beside it, in the same run, the same file
// through csv-parse alone and through csv-parse + the per-row work without the database (mapping, merge,
// SCIM validation), and the SCIM user use case alone (UserService.create of 2,000 similar users at the
// same concurrency, no CSV): the floors the import is measured against. Then the same file again (every
// row unchanged: nothing may be written) and the process's RSS (the file is streamed, never held).
import { createReadStream, createWriteStream, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse";
import { importCsv } from "../../src/import/csv-import.ts";
import { DEFAULT_COLUMNS, defaultMapping, planHeader, rowToPatch } from "../../src/import/csv-mapping.ts";
import { mergeRow } from "../../src/import/row-merge.ts";
import { validateUser } from "../../src/scim/user-resource.ts";
import { normaliseUserBody } from "../../src/scim/dialect.ts";
import { startApps, withBenchBroker } from "./lib.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const SIZES = (process.env.BENCH_SIZES ?? "10000,100000").split(",").map(Number);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const DEPARTMENTS = ["Finance", "Engineering", "Sales", "Marketing", "Support", "Legal", "HR", "Operations", "Research", "Design"];
const policy = (apps: Array<{ name: string; url: string }>) => `groups:
${DEPARTMENTS.map((d) => `  - name: ${d.toLowerCase()}\n    when: department eq "${d}" and active eq true\n`).join("")}  - name: london
    when: location eq "London"
    portable: true
  - name: contractors
    when: userType eq "Contractor" and active eq true
apps:
${apps.map((a) => `  - name: ${a.name}\n    url: ${a.url}\n    auth: { type: bearer, token: "\${BENCH_APP_TOKEN}" }\n`).join("")}guards:
  massDeprovision: { maxUsers: 1000000, maxPercent: 100, window: 1h }
`;

async function writeCsv(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  const line = (cells: string[]) => `${cells.map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(",")}\n`;
  const write = async (s: string) => { if (!out.write(s)) await once(out, "drain"); };
  await write(line([...DEFAULT_COLUMNS]));
  for (let i = 1; i <= n; i++) {
    const manager = i <= 10 ? "" : i % 100 === 0 ? `E${Math.min(n, i + 5)}` : `E${1 + (i % 10)}`; // 1 % name a later row
    const status = i % 50 === 0 ? "terminated" : "active";
    await write(line([`E${i}`, `user${i}@example.com`, `Given${i}`, `Family, ${i}`, `user${i}@example.com`, DEPARTMENTS[i % DEPARTMENTS.length]!,
      i % 7 === 0 ? "Engineer" : "Analyst", i % 10 === 0 ? "Contractor" : "Employee", status, "2024-01-15", i % 10 === 0 ? "2027-06-30" : "",
      manager, `CC${i % 40}`, ["London", "Paris", "Berlin", "Madrid"][i % 4]!]));
  }
  out.end();
  await once(out, "finish");
}

async function timeIt<T>(fn: () => Promise<T>): Promise<[T, number]> { const t0 = performance.now(); const r = await fn(); return [r, performance.now() - t0]; }

/** csv-parse alone: every record of the file, nothing done with it. */
async function parseOnly(file: string): Promise<number> {
  let n = 0;
  for await (const _ of createReadStream(file).pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, info: true }))) n++;
  return n - 1;
}

/** csv-parse + the import's per-row work that needs no database (mapping, merge, SCIM validation). */
async function parseAndValidate(file: string): Promise<number> {
  const m = defaultMapping();
  let plan: ReturnType<typeof planHeader> | undefined;
  let n = 0;
  for await (const { record } of createReadStream(file).pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, info: true }))) {
    if (!plan) { plan = planHeader(record, m); continue; }
    validateUser(normaliseUserBody(mergeRow(null, rowToPatch(record, plan, m), null)));
    n++;
  }
  return n;
}

const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString("en")} rows/s`;

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "import-bench-"));
  const apps = await startApps(["bench:3"]);
  const policyFile = join(dir, "broker.yaml");
  await (await import("node:fs/promises")).writeFile(policyFile, policy(apps.apps));
  console.log(`import bench: sizes ${SIZES.join(", ")}, concurrency ${CONCURRENCY}, database ${ADMIN_URL.replace(/:[^:@/]+@/, ":***@")}`);
  try {
    for (const n of SIZES) {
      const file = join(dir, `people-${n}.csv`);
      await writeCsv(file, n);
      await withBenchBroker(ADMIN_URL, `import_${n}`, {
        poolSize: CONCURRENCY + 24,
        env: { BROKER_WORKERS: "true", BROKER_CONFIG: policyFile, BENCH_APP_TOKEN: apps.token, BROKER_FANOUT_RECONCILE_INTERVAL: "off" },
      }, async (broker) => {
        await broker.lifecycle.start();
        await broker.startWorkers(); // deliveries run beside the import, as in a running server
        console.log(`\n== ${n.toLocaleString("en")} rows (${mb(statSync(file).size)} file)`);
        const [parsed, parseMs] = await timeIt(() => parseOnly(file));
        console.log(`csv-parse alone                   ${(parseMs / 1000).toFixed(2)} s  ${rate(parsed, parseMs)}`);
        const [validated, validateMs] = await timeIt(() => parseAndValidate(file));
        console.log(`csv-parse + mapping + validation  ${(validateMs / 1000).toFixed(2)} s  ${rate(validated, validateMs)}`);
        const REF = Math.min(n, 2000);
        const refBodies = Array.from({ length: REF }, (_, i) => mergeRow(null, rowToPatch([`R${i}`, `ref${i}@example.com`, "Ref", `Row ${i}`, `ref${i}@example.com`,
          DEPARTMENTS[i % DEPARTMENTS.length]!, "Analyst", "Employee", "active", "2024-01-15", "", "", `CC${i % 40}`, "Paris"], planHeader([...DEFAULT_COLUMNS], defaultMapping()), defaultMapping()), null));
        let nextRef = 0, refFailed = 0;
        const [, refMs] = await timeIt(() => Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (nextRef < REF) {
            // a SCIM client would get a 500 for a deadlocked transaction: counted, not retried
            await broker.users.create(refBodies[nextRef++]!, { tokenId: null, requestId: null, actor: "bench", source: "reference" }).catch(() => { refFailed++; });
          }
        })));
        console.log(`SCIM use case alone (create)      ${(refMs / 1000).toFixed(2)} s  ${rate(REF, refMs)}  (${REF} users, UserService.create, concurrency ${CONCURRENCY}; ${refFailed} failed)`);
        let peak = process.memoryUsage().rss;
        const rssBefore = peak;
        const ctx = { tokenId: null, requestId: null, actor: "bench" };
        const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
        const [first, importMs] = await timeIt(() => importCsv(createReadStream(file), { source: "bench", ctx, concurrency: CONCURRENCY, onProgress: sample }, { pool: broker.db.pool, users: broker.users }));
        console.log(`import (created)                  ${(importMs / 1000).toFixed(2)} s  ${rate(n, importMs)}  created ${first.created} updated ${first.updated} rejected ${first.rejected} errors ${first.errors.length}`);
        const counts = (await broker.db.pool.query(`SELECT (SELECT count(*) FROM change_record) AS changes, (SELECT count(*) FROM lifecycle_event) AS events,
          (SELECT count(*) FROM group_member) AS memberships, (SELECT count(*) FROM app_account WHERE status IN ('delivered', 'deprovisioned')) AS delivered,
          (SELECT count(*) FROM app_account) AS accounts`)).rows[0];
        const kinds = (await broker.db.pool.query(`SELECT resource_type || ' ' || operation AS k, count(*)::int AS n FROM change_record GROUP BY 1 ORDER BY 1`)).rows.map((r) => `${r.k} ${r.n}`).join(", ");
        console.log(`  written: ${counts.changes} change records (${kinds}), ${counts.events} lifecycle events, ${counts.memberships} memberships; app accounts delivered by the end of the import ${counts.delivered} of ${counts.accounts}`);
        const [second, againMs] = await timeIt(() => importCsv(createReadStream(file), { source: "bench", ctx, concurrency: CONCURRENCY, onProgress: sample }, { pool: broker.db.pool, users: broker.users }));
        const after = Number((await broker.db.pool.query(`SELECT count(*) AS n FROM change_record`)).rows[0].n);
        console.log(`import again (unchanged)          ${(againMs / 1000).toFixed(2)} s  ${rate(n, againMs)}  unchanged ${second.unchanged} updated ${second.updated}; change records written: ${after - Number(counts.changes)}`);
        console.log(`RSS: before ${mb(rssBefore)}, peak during the imports ${mb(peak)}`);
        const dead = (await broker.db.pool.query(`SELECT count(*)::int AS n, string_agg(DISTINCT code || ' ' || coalesce(response_status::text, '-'), ', ') AS codes FROM dead_letter`)).rows[0];
        console.log(`dead letters by the end: ${dead.n}${dead.n ? ` (${dead.codes})` : ""}`);
      });
    }
  } finally {
    apps.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
