// Rules/lifecycle benchmark (issue: rules layer). Not part of `npm test`; run with
//   node --import tsx scripts/bench/plan-bench.ts          (BENCH_ADMIN_URL, BENCH_USERS to override)
// 1. 20 rules applied to a population filled through SQL (the first apply creates every membership);
// 2. plan and apply of a narrow rule change (one department added to a group) and of a broad one (a new
//    group matching most users) over 100,000 users — target: plan ≤ 2 s;
// 3. one HR PATCH (a mover) through HTTP with the 20 rules loaded, at 10,000 and at 100,000 users: the
//    per-event work depends on the user's rules, not on the population, so the two must look alike.
import pg from "pg";
import { randomUUID } from "node:crypto";
import { percentile, withBenchBroker } from "./lib.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const TOTAL = Number(process.env.BENCH_USERS ?? 100_000);
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const HR = "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User";

const guard = "guards:\n  massDeprovision: { maxUsers: 1000000, maxPercent: 100, window: 1h }\n";
const rules = (extra = "", dept1 = 'department eq "Dept1"') => `groups:
${Array.from({ length: 15 }, (_, i) => `  - name: dept-${i}\n    when: ${i === 1 ? dept1 : `department eq "Dept${i}"`} and active eq true\n`).join("")}  - name: london
    when: location eq "London"
    portable: true
  - name: paris
    when: location eq "Paris"
    portable: true
  - name: berlin
    when: location eq "Berlin" and userType ne "Service"
  - name: sre
    when: title sw "SRE" and department eq "Dept3"
    privileged: true
  - name: contractors
    when: userType eq "Contractor" and active eq true
${extra}${guard}`;
const P1 = rules();
const NARROW = rules("", '(department eq "Dept1" or department eq "Dept2")');
const BROAD = rules(`  - name: employees\n    when: userType eq "Employee" and active eq true\n`, '(department eq "Dept1" or department eq "Dept2")');

async function fill(db: pg.Client, from: number, to: number) {
  await db.query(`INSERT INTO scim_user (user_name, user_name_key, active, user_type, title, department, location, source, data)
    SELECT 'u' || g || '@example.com', 'u' || g || '@example.com', true,
      CASE WHEN g % 10 = 0 THEN 'Contractor' ELSE 'Employee' END,
      CASE WHEN g % 7 = 0 THEN 'SRE ' || (g % 3) ELSE 'Analyst' END,
      'Dept' || (g % 50), (ARRAY['London','Paris','Berlin','Madrid'])[1 + g % 4], 'workday',
      jsonb_build_object('schemas', jsonb_build_array('${USER}','${ENT}','${HR}'), 'userName', 'u' || g || '@example.com', 'active', true,
        'userType', CASE WHEN g % 10 = 0 THEN 'Contractor' ELSE 'Employee' END,
        'title', CASE WHEN g % 7 = 0 THEN 'SRE ' || (g % 3) ELSE 'Analyst' END,
        '${ENT}', jsonb_build_object('department', 'Dept' || (g % 50)),
        '${HR}', jsonb_build_object('location', (ARRAY['London','Paris','Berlin','Madrid'])[1 + g % 4]))
    FROM generate_series($1::int, $2::int) g`, [from, to]);
  await db.query("ANALYZE scim_user");
  await db.query("ANALYZE group_member");
}

const time = async <T>(fn: () => Promise<T>): Promise<[T, number]> => { const t0 = performance.now(); const r = await fn(); return [r, performance.now() - t0]; };
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const summary = (name: string, ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} n=${ms.length} p50=${percentile(s, 50).toFixed(2)} ms  p99=${percentile(s, 99).toFixed(2)} ms`);
};

async function main() {
  await withBenchBroker(ADMIN_URL, "planbench", { poolSize: 10 }, async (broker, db, dbName) => {
    const port = await broker.listen(0, "127.0.0.1");
    const { token } = await broker.tokens.create({ name: `bench-${randomUUID()}`, scopes: ["admin"], source: "workday" });
    const lc = broker.lifecycle;
    console.log(`database ${dbName} (${(await db.query("select version()")).rows[0].version.split(",")[0]}), 20 rules`);

    const patchBench = async (label: string) => {
      const ids = (await db.query(`SELECT id, department FROM scim_user ORDER BY random() LIMIT 200`)).rows;
      const lat: number[] = [];
      for (const [i, u] of ids.entries()) {
        const body = { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: `${ENT}:department`, value: `Dept${(i * 7) % 50}` }] };
        const t0 = performance.now();
        const r = await fetch(`http://127.0.0.1:${port}/scim/v2/Users/${u.id}`, { method: "PATCH", headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" }, body: JSON.stringify(body) });
        await r.arrayBuffer();
        lat.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`PATCH → ${r.status}`);
      }
      summary(`HR PATCH (mover), ${label}`, lat.slice(20));
    };

    await fill(db, 1, Math.min(10_000, TOTAL));
    let [, ms] = await time(() => lc.policy.apply(P1, "p1.yaml", "bench"));
    console.log(`apply 20 rules to ${Math.min(10_000, TOTAL)} users (first apply)     ${fmt(ms)}`);
    await patchBench(`${Math.min(10_000, TOTAL)} users`);

    if (TOTAL > 10_000) {
      // the rest arrives as if it had always been there: apply P1 to them by a converge from an empty policy
      await db.query(`DELETE FROM group_member; DELETE FROM policy_version; DELETE FROM review;`);
      await fill(db, 10_001, TOTAL);
      const [first, ms1] = await time(() => lc.policy.apply(P1, "p1.yaml", "bench"));
      const rows = (await db.query(`SELECT count(*)::int n FROM group_member`)).rows[0].n;
      console.log(`apply 20 rules to ${TOTAL} users (first apply)    ${fmt(ms1)}  (${first.users} users, ${rows} membership rows)`);
      await db.query("ANALYZE group_member");
      await patchBench(`${TOTAL} users`);
    }

    for (const [label, text] of [["narrow change (+1 department, ~2% of users)", NARROW], ["broad change (new group, ~90% of users)", BROAD]] as const) {
      const [plan, planMs] = await time(() => lc.policy.plan(text, "next.yaml"));
      const gains = Object.values(plan.groups).reduce((n, g) => n + g.gains.count, 0);
      const losses = Object.values(plan.groups).reduce((n, g) => n + g.losses.count, 0);
      console.log(`plan  ${label.padEnd(44)} ${fmt(planMs)}  (${plan.users} users: +${gains} -${losses})`);
      const [applied, applyMs] = await time(() => lc.policy.apply(text, "next.yaml", "bench"));
      const same = JSON.stringify(applied.groups) === JSON.stringify(plan.groups);
      console.log(`apply ${label.padEnd(44)} ${fmt(applyMs)}  (plan == apply: ${same})`);
    }
    await patchBench(`${TOTAL} users, 21 rules after the changes`);
    console.log(`RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
