// Policy replay benchmark (issue: HR data quality, policy replay). Not part of `npm test`; run with
//   node --import tsx scripts/bench/replay-bench.ts        (BENCH_ADMIN_URL, BENCH_CHANGES, BENCH_USERS to override)
// Fills change_record with BENCH_CHANGES (default 100,000) recorded HR changes of BENCH_USERS users over 90 days
// (movers, leavers, re-activations, with before/after snapshots as the broker writes them) and two recorded
// policy versions, then measures, in the same run and on the same records:
//   1. the reference: reading the window's records with the replay's own reader (keyset batches, one batch
//      prefetched) and doing nothing with them — the floor set by PostgreSQL and the driver;
//   2. the replay: the same read, plus the pure engine twice per record (the proposed policy, with 20 rules and
//      the data-quality shield, and the version active at the time).
// Target: 100,000 records in ≤ 10 s.
import pg from "pg";
import { withBenchBroker } from "./lib.ts";
import { streamChanges } from "../../src/lifecycle/policy-replay.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const CHANGES = Number(process.env.BENCH_CHANGES ?? 100_000);
const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const DAY = 86_400_000;
const T0 = new Date("2026-01-01T00:00:00Z");

const rules = (n: number, extra = "") => `groups:
${Array.from({ length: n }, (_, i) => `  - name: dept-${i}\n    when: department eq "Dept${i}" and active eq true\n`).join("")}  - name: london
    when: location eq "London"
    portable: true
  - name: sre
    when: title sw "SRE" and department eq "Dept3"
    privileged: true
  - name: contractors
    when: userType eq "Contractor" and active eq true
${extra}guards:
  massDeprovision: { maxUsers: 1000000, maxPercent: 100, window: 1h }
`;
const RECORDED_1 = rules(12);
const RECORDED_2 = rules(15);
const PROPOSED = rules(17, `dataQuality:
  departments: [${Array.from({ length: 48 }, (_, i) => `Dept${i}`).join(", ")}]
  locations: [London, Paris, Berlin]
  flapping: { within: 1h }
`);

// One change per row: user g % USERS, its k-th change; department moves, every 10th a leaver, every 25th a
// re-activation, so the engine meets movers, leavers, rehires and unknown departments (Dept48, Dept49).
async function fill(db: pg.Client) {
  await db.query(`
    WITH c AS (
      SELECT g, g % ${USERS} AS u, g / ${USERS} AS k,
             to_timestamp(${T0.getTime() / 1000} + (g::float8 / ${CHANGES}) * ${(90 * DAY) / 1000}) AS at FROM generate_series(0, ${CHANGES - 1}) g),
    s AS (
      SELECT g, u, k, at, md5('u' || u)::uuid AS id, 'u' || u || '@example.com' AS user_name,
             'Dept' || ((u + k) % 50) AS dept_before, 'Dept' || ((u + k + 1) % 50) AS dept_after,
             (k % 10 <> 9) AS active_after, (k % 10 <> 0 OR k = 0) AS active_before,
             (ARRAY['London','Paris','Berlin','Madrid'])[1 + u % 4] AS location,
             CASE WHEN u % 10 = 0 THEN 'Contractor' ELSE 'Employee' END AS user_type,
             CASE WHEN u % 7 = 0 THEN 'SRE' ELSE 'Analyst' END AS title FROM c)
    INSERT INTO change_record (resource_type, resource_id, operation, changed, before, after, source, created_at)
    SELECT 'User', id, 'update', ARRAY['department'],
      jsonb_build_object('id', id, 'userName', user_name, 'active', active_before, 'userType', user_type, 'title', title,
        'department', dept_before, 'costCenter', null, 'division', null, 'organization', null, 'employeeNumber', 'E' || u,
        'managerId', null, 'sponsorId', null, 'location', location, 'employmentStatus', 'active', 'startDate', '2025-01-01T00:00:00.000Z', 'endDate', null),
      jsonb_build_object('id', id, 'userName', user_name, 'active', active_after, 'userType', user_type, 'title', title,
        'department', dept_after, 'costCenter', null, 'division', null, 'organization', null, 'employeeNumber', 'E' || u,
        'managerId', null, 'sponsorId', null, 'location', location, 'employmentStatus', 'active', 'startDate', '2025-01-01T00:00:00.000Z', 'endDate', null),
      'workday', at
    FROM s`);
  await db.query(`INSERT INTO policy_version (version, yaml, file, applied_at, applied_by) VALUES
    ('bench-recorded-1', $1, 'recorded-1.yaml', $3, 'bench'), ('bench-recorded-2', $2, 'recorded-2.yaml', $4, 'bench')`,
  [RECORDED_1, RECORDED_2, new Date(T0.getTime() - DAY), new Date(T0.getTime() + 45 * DAY)]);
  await db.query("ANALYZE change_record");
}

/** Wall time, and this process's CPU time meanwhile (the machine is shared: wall time includes waiting for a core). */
const time = async <T>(fn: () => Promise<T>): Promise<[T, number, number]> => {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const r = await fn();
  const c = process.cpuUsage(c0);
  return [r, performance.now() - t0, (c.user + c.system) / 1000];
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  await withBenchBroker(ADMIN_URL, "replaybench", { poolSize: 4 }, async (broker, db, dbName) => {
    const [, fillMs] = await time(() => fill(db));
    const version = (await db.query("select version()")).rows[0].version.split(",")[0];
    console.log(`database ${dbName} (${version}); ${CHANGES} change records of ${USERS} users over 90 days, filled in ${fmt(fillMs)}`);
    const window = { from: T0, to: new Date(T0.getTime() + 91 * DAY) };
    console.log(`load average ${(await import("node:os")).loadavg().map((l) => l.toFixed(1)).join(" ")} on ${(await import("node:os")).cpus().length} cores`);
    for (let run = 1; run <= 3; run++) {
      const client = await broker.db.pool.connect();
      let read: number, readMs: number, readCpu: number;
      try {
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        [read, readMs, readCpu] = await time(() => streamChanges(client, window, () => {}));
        await client.query("COMMIT");
      } finally { client.release(); }
      const [r, replayMs, replayCpu] = await time(() => broker.lifecycle.replay(PROPOSED, "proposed.yaml", { ...window, limit: 10 }));
      console.log(`run ${run}: reference (read ${read} records, no evaluation) ${fmt(readMs)} (cpu ${fmt(readCpu)})  |  `
        + `replay ${r.summary.changes} records ${fmt(replayMs)} (cpu ${fmt(replayCpu)}; ${Math.round(r.summary.changes / (replayMs / 1000))} records/s; `
        + `${r.summary.users} users differ: +${r.summary.gained} -${r.summary.lost}, held ${r.summary.held}, reviews ${r.summary.reviews})`);
    }
    console.log(`RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
