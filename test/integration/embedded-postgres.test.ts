// The embedded PostgreSQL's credentials and life cycle: a random password generated into the data
// directory (never the constant `postgres`), migrated for data directories of earlier versions, and a
// postmaster left running by a killed broker adopted by the next start rather than failing on its lock.
import { expect } from "chai";
import pg from "pg";
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres, type EmbeddedDb } from "../../src/store/embedded-postgres.ts";
import { freePort } from "../helpers/broker-process.ts";

async function login(port: number, password: string): Promise<string> {
  const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "postgres", connectionTimeoutMillis: 5000 });
  c.on("error", () => {});
  try { await c.connect(); await c.end(); return "ok"; } catch (e) { await c.end().catch(() => {}); return (e as { code?: string }).code ?? String(e); }
}

describe("embedded PostgreSQL: credentials and restart", function () {
  this.timeout(120_000);
  let dir: string;
  let port: number;
  let db: EmbeddedDb | undefined;
  before(async () => { dir = await mkdtemp(join(tmpdir(), "broker-embedded-")); port = await freePort(); });
  after(async () => { await db?.stop().catch(() => {}); await rm(dir, { recursive: true, force: true }); });

  it("when a new data directory starts, then the password is random, kept in pg-password (mode 0600), and `postgres` is refused", async () => {
    db = await startEmbeddedPostgres({ dataDir: dir, port, database: "broker" });
    const file = join(dir, "pg-password");
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    const password = (await readFile(file, "utf8")).trim();
    expect(password).to.have.length.greaterThan(20);
    expect(db.url).to.not.include(":postgres@");
    expect(await login(port, password)).to.equal("ok");
    expect(await login(port, "postgres")).to.equal("28P01");
    await db.stop();
    db = await startEmbeddedPostgres({ dataDir: dir, port, database: "broker" });
    expect((await readFile(file, "utf8")).trim(), "reused on restart").to.equal(password);
    expect(db.adopted).to.equal(false);
    expect(await login(port, password)).to.equal("ok");
  });

  it("when the data directory of an earlier version (password `postgres`, no pg-password) starts, then the password is replaced by a generated one", async () => {
    // What earlier versions left: the superuser's password `postgres`, clear-text `password` auth, no file.
    const c = new pg.Client({ connectionString: db!.url });
    await c.connect();
    await c.query(`ALTER ROLE postgres PASSWORD 'postgres'`);
    await c.end();
    const hba = join(dir, "pg", "pg_hba.conf");
    await writeFile(hba, (await readFile(hba, "utf8")).replace(/scram-sha-256(\s*)$/gm, "password$1"));
    await db!.stop();
    await unlink(join(dir, "pg-password"));

    db = await startEmbeddedPostgres({ dataDir: dir, port, database: "broker" });
    const password = (await readFile(join(dir, "pg-password"), "utf8")).trim();
    expect(password).to.not.equal("postgres");
    expect(await login(port, password)).to.equal("ok");
    expect(await login(port, "postgres")).to.equal("28P01");
    expect(await readFile(hba, "utf8")).to.not.match(/\spassword\s*$/m);
  });

  it("when the postmaster of the data directory is still running (its broker was killed), then the next start adopts it", async () => {
    const orphan = db!; // a broker that died without stopping it
    db = await startEmbeddedPostgres({ dataDir: dir, port, database: "broker" });
    expect(db.adopted).to.equal(true);
    expect(db.url).to.equal(orphan.url);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    expect((await c.query(`SELECT current_database() AS d`)).rows[0].d).to.equal("broker");
    await c.end();
  });

  it("when postmaster.pid names a live process that is not PostgreSQL (a PID reused after a container restart), then the next start starts it", async () => {
    await db!.stop();
    // a live process of the OS user PostgreSQL runs as (as root: "postgres"), so that its PID passes kill(pid, 0)
    const ids = process.getuid?.() === 0 ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) } : {};
    const other = spawn("sleep", ["30"], { stdio: "ignore", ...ids });
    try {
      const lock = join(dir, "pg", "postmaster.pid");
      await writeFile(lock, `${other.pid}\n${join(dir, "pg")}\n1700000000\n${port}\n\n127.0.0.1\n  5432001  0\nready   \n`);
      db = await startEmbeddedPostgres({ dataDir: dir, port, database: "broker" });
      expect(db.adopted).to.equal(false);
      expect(await login(port, (await readFile(join(dir, "pg-password"), "utf8")).trim())).to.equal("ok");
    } finally { other.kill(); }
  });
});
