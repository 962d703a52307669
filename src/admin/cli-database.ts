// The CLI uses the same database settings as the server: DATABASE_URL, or the embedded PostgreSQL under
// BROKER_DATA_DIR — reusing the running server's instance when there is one (found through the data
// directory's postmaster.pid, with the password the server generated there), else starting it briefly.
import { userInfo } from "node:os";
import { InvalidArgumentError } from "commander";
import { pino } from "pino";
import { loadConfig, type Config } from "../config/config.ts";
import { REDACT_PATHS, type Logger } from "../shared/logger.ts";
import { createDatabase, type Database } from "../store/database.ts";
import { migrate } from "../store/migrate.ts";
import { startEmbeddedPostgres } from "../store/embedded-postgres.ts";

export async function openCliDatabase(config: Config): Promise<Database & { url: string }> {
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const e = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    url = e.url;
    if (!e.adopted) stopEmbedded = e.stop; // started for this command only
  }
  const db = createDatabase(url, { max: 4 });
  await migrate(db.pool);
  return { ...db, url, async close() { await db.close(); await stopEmbedded?.(); } };
}

/** Where a CLI command writes (tests pass their own to capture output and the exit code). */
export interface CliIo { out(line: string): void; err(line: string): void; setExitCode(code: number): void }
export const processIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l), setExitCode: (c) => { process.exitCode = c; } };

/** Who the CLI acts as in change records and audit causes: cli:<OS user>, the same for every command. */
export const cliActor = (): string => { try { return `cli:${userInfo().username}`; } catch { return "cli:unknown"; } };

/** A commander option parser for a positive integer; `what` is the message when the value is not one. */
export const positiveInteger = (what: string) => (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(what);
  return Number(v);
};

/**
 * The CLI's logger: the broker's (same redaction) but on stderr, so stdout carries the command's output alone
 * (`--json` is pure JSON). Warnings and errors only, unless asked: `--verbose` (info) or BROKER_LOG_LEVEL
 * set to debug/trace — the server's default "info" would bury a command's output in noise.
 */
export function cliLogger(configured: string, verbose = false): Logger {
  const level = verbose ? (configured === "debug" || configured === "trace" ? configured : "info") : configured === "info" ? "warn" : configured;
  return pino({ level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { service: "scim-broker" } }, pino.destination({ dest: 2, sync: true }));
}
