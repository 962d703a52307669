// The CLI uses the same database settings as the server: DATABASE_URL, or the embedded PostgreSQL under
// BROKER_DATA_DIR — reusing the running server's instance when there is one, else starting it briefly.
import pg from "pg";
import type { Config } from "../config/config.ts";
import { createDatabase, type Database } from "../store/database.ts";
import { migrate } from "../store/migrate.ts";
import { startEmbeddedPostgres } from "../store/embedded-postgres.ts";

export async function openCliDatabase(config: Config): Promise<Database> {
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const running = `postgresql://postgres:postgres@127.0.0.1:${config.embeddedPgPort}/broker`;
    if (await answers(running)) url = running;
    else {
      const e = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
      url = e.url;
      stopEmbedded = e.stop;
    }
  }
  const db = createDatabase(url, { max: 4 });
  await migrate(db.pool);
  return { ...db, async close() { await db.close(); await stopEmbedded?.(); } };
}

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try { await c.connect(); await c.end(); return true; } catch { return false; }
}
