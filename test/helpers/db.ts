// A fresh database per test file, cloned from the migrated template (fast: a file copy in PostgreSQL).
import pg from "pg";
import { randomBytes } from "node:crypto";

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.BROKER_TEST_ADMIN_URL;
  const template = process.env.BROKER_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error("test/global.ts did not run (use `npm test` or mocha with .mocharc.json)");
  const name = `broker_t_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  await admin.end();
  const url = new URL(adminUrl); url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      // A pool's end() resolves before its connections have closed (they are still saying goodbye): give them
      // a few polls to go, so that FORCE does not terminate one mid-close (its client would report an error
      // after the test ended). FORCE remains for what a test left open.
      for (let i = 0; i < 100; i++) {
        const { rows } = await a.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [name]).catch(() => ({ rows: [{ n: 0 }] }));
        if (rows[0].n === 0) break;
      }
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}

/**
 * A fresh database and a pool on it, for tests that call repositories directly; `close()` ends the pool and
 * drops the database. An idle connection closed under the pool at the end is no test failure.
 */
export async function createTestPool(max = 3): Promise<{ pool: pg.Pool; close(): Promise<void> }> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max });
  pool.on("error", () => {});
  return { pool, async close() { await pool.end(); await db.drop(); } };
}
