// Mocha global fixture: one PostgreSQL for the run — embedded (PostgreSQL 18 from npm) unless
// TEST_DATABASE_URL names a server — with a migrated template database, and the compiled broker that
// child-process tests start (`npm run build`, as `npm start` does). Each test file clones its own database
// from the template (test/helpers/db.ts), so files never share data.
import pg from "pg";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres, type EmbeddedDb } from "../src/store/embedded-postgres.ts";
import { migrate } from "../src/store/migrate.ts";
import { migrateJobQueue } from "../src/jobs/job-queue.ts";
import { buildBroker } from "./helpers/broker-process.ts";

let embedded: EmbeddedDb | undefined;
let dataDir: string | undefined;

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer().once("error", reject).listen(0, "127.0.0.1", () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

export const TEMPLATE = `broker_tpl_${process.pid}`;

export async function mochaGlobalSetup() {
  const t0 = Date.now();
  // The compiled broker that child-process tests run (as `npm start` does), built while the database starts.
  const build = buildBroker();
  build.catch(() => {}); // awaited below; a failure is reported there
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    dataDir = await mkdtemp(join(tmpdir(), "broker-test-pg-"));
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: "postgres_admin", persistent: false });
    adminUrl = embedded.url;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE}`);
  await admin.end();
  const tpl = new URL(adminUrl); tpl.pathname = `/${TEMPLATE}`;
  const pool = new pg.Pool({ connectionString: tpl.toString(), max: 1 });
  pool.on("error", () => {});
  pool.on("connect", (client) => { client.on("error", () => {}); });
  await migrate(pool);
  await migrateJobQueue(pool);
  await pool.end();
  process.env.BROKER_TEST_ADMIN_URL = adminUrl;
  process.env.BROKER_TEST_TEMPLATE = TEMPLATE;
  await build;
  console.log(`  [database and build ready in ${Date.now() - t0} ms: ${embedded ? "embedded PostgreSQL" : adminUrl.replace(/:[^:@/]+@/, ":***@")}]`);
}

export async function mochaGlobalTeardown() {
  const adminUrl = process.env.BROKER_TEST_ADMIN_URL!;
  if (!embedded && adminUrl) {
    // leave the external server clean: drop our template and the per-file databases
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`, [`broker_t_${process.pid}_%`, TEMPLATE]);
    for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS ${r.datname} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
