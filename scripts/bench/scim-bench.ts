// SCIM server benchmark (issue: foundation). Not part of `npm test`; run with `npm run bench:scim`.
//   1. POST /Users at concurrency 16 (persisted with change records)
//   2. the store filled to 100,000 users, then GET /Users?filter=userName eq "…" and pages of 100
//      (index paging at random offsets, and cursor paging), printing req/s, p50, p99 and server RSS.
// Database: BENCH_DATABASE_URL (default: the machine's PostgreSQL 15 on 127.0.0.1:5432, a fresh database).
import pg from "pg";
import { randomUUID } from "node:crypto";
import { httpClient, load, rssMb, startBrokerProcess, summary } from "./lib.ts";

const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const TOTAL = Number(process.env.BENCH_USERS ?? 100_000);
const CREATES = Number(process.env.BENCH_CREATES ?? 5_000);
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async function main() {
  const dbName = `broker_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL); url.pathname = `/${dbName}`;
  const token = `bench-${randomUUID()}-token`;
  const broker = await startBrokerProcess({ DATABASE_URL: url.toString(), BROKER_BOOTSTRAP_TOKEN: token, BROKER_DB_POOL_SIZE: "20" });
  const http = httpClient(broker.url, token);
  console.log(`broker pid ${broker.proc.pid} on ${broker.url}, database ${dbName} (${(await admin.query("select version()")).rows[0].version.split(",")[0]})`);
  try {
    // warm-up
    await load(8, 200, (i) => http.req("POST", "/scim/v2/Users", userBody(`warm${i}`)));
    const creates = await load(16, CREATES, (i) => http.req("POST", "/scim/v2/Users", userBody(`c${i}`)));
    summary("POST /Users (c=16)", creates.lat, creates.wall);

    // fill to TOTAL users through SQL (the create path is measured above; this only builds the population)
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    const have = (await db.query("select count(*)::int n from scim_user")).rows[0].n;
    await db.query(`INSERT INTO scim_user (user_name, user_name_key, active, department, data)
      SELECT 'fill' || g || '@example.com', 'fill' || g || '@example.com', true, 'Dept' || (g % 50),
        jsonb_build_object('schemas', jsonb_build_array('${USER}','${ENT}'), 'userName', 'fill' || g || '@example.com', 'active', true,
          'name', jsonb_build_object('givenName', 'G' || g, 'familyName', 'F' || g),
          'emails', jsonb_build_array(jsonb_build_object('value', 'fill' || g || '@example.com', 'type', 'work', 'primary', true)),
          '${ENT}', jsonb_build_object('department', 'Dept' || (g % 50)))
      FROM generate_series(1, $1) g`, [Math.max(0, TOTAL - have)]);
    await db.query("ANALYZE scim_user");
    const n = (await db.query("select count(*)::int n from scim_user")).rows[0].n;
    await db.end();
    console.log(`population: ${n} users`);

    await load(4, 200, (i) => http.req("GET", `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "fill${i + 1}@example.com"`)}`));
    const filters = await load(8, 3000, (i) => http.req("GET", `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "FILL${(i * 7919) % TOTAL + 1}@example.com"`)}`));
    summary("GET filter userName eq (c=8)", filters.lat, filters.wall);
    const f1 = await load(1, 1000, (i) => http.req("GET", `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "fill${(i * 104729) % TOTAL + 1}@example.com"`)}`));
    summary("GET filter userName eq (c=1)", f1.lat, f1.wall);

    const pages = await load(4, 500, (i) => http.req("GET", `/scim/v2/Users?startIndex=${((i * 7919) % (n - 100)) + 1}&count=100`));
    summary("GET page of 100, startIndex (c=4)", pages.lat, pages.wall);
    const p1 = await load(1, 300, (i) => http.req("GET", `/scim/v2/Users?startIndex=${((i * 7919) % (n - 100)) + 1}&count=100`));
    summary("GET page of 100, startIndex (c=1)", p1.lat, p1.wall);
    let cursor = "";
    const cur = await load(1, 300, async () => { const r = await http.req("GET", `/scim/v2/Users?count=100&cursor=${encodeURIComponent(cursor)}`); cursor = r.nextCursor ?? ""; });
    summary("GET page of 100, cursor (c=1)", cur.lat, cur.wall);
    console.log(`server RSS: ${rssMb(broker.proc.pid!).toFixed(0)} MB`);
  } finally {
    await http.close();
    await broker.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

function userBody(tag: string) {
  const u = `${tag}.${randomUUID().slice(0, 8)}@example.com`;
  return { schemas: [USER, ENT], userName: u, name: { givenName: "B", familyName: tag }, emails: [{ value: u, type: "work", primary: true }], active: true, [ENT]: { department: "Finance", employeeNumber: tag } };
}

main().catch((e) => { console.error(e); process.exit(1); });
