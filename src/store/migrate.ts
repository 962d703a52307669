// Applies prisma/migrations/*/migration.sql at start-up, recording them in _prisma_migrations exactly as
// `prisma migrate deploy` does (same advisory lock id, sha256 checksums), so either can take over.
// Hand-rolled on purpose: `prisma migrate deploy` would need a child process and the wasm schema engine
// (1–2 s and ~150 MB) on every start, and the server must not load the CLI's adapter workarounds.
import type pg from "pg";
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rekeyIdentifiers } from "./identifier-rekey.ts";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));
const PRISMA_LOCK_ID = 72707369;

/** Data steps that SQL cannot express, run in their migration's transaction right after its SQL. */
const DATA_STEPS: Record<string, (client: pg.PoolClient) => Promise<unknown>> = {
  "20261204100000_identifier_keys": rekeyIdentifiers,
};

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

/** Applies pending migrations; returns the names applied. */
export async function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    const done = new Set((await client.query(`SELECT migration_name FROM "_prisma_migrations"
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`)).rows.map((r) => r.migration_name as string));
    const applied: string[] = [];
    for (const name of await listMigrations(dir)) {
      if (done.has(name)) continue;
      const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
      const checksum = createHash("sha256").update(sql).digest("hex");
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await DATA_STEPS[name]?.(client);
        await client.query(`INSERT INTO "_prisma_migrations"(id, checksum, migration_name, finished_at, applied_steps_count)
          VALUES ($1, $2, $3, now(), 1)`, [randomUUID(), checksum, name]);
        await client.query("COMMIT");
        applied.push(name);
      } catch (e) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${name} failed: ${(e as Error).message}`, { cause: e });
      }
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_LOCK_ID]).catch(() => {});
    client.release();
  }
}

/** True when every migration on disk is recorded as applied (for /readyz). */
export async function migrationsApplied(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<boolean> {
  const wanted = await listMigrations(dir);
  const { rows } = await pool.query(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`);
  const have = new Set(rows.map((r) => r.migration_name));
  return wanted.every((m) => have.has(m));
}
