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
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}
