import { expect } from "chai";
import express from "express";
import request from "supertest";
import type { Server } from "node:http";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type pg from "pg";
import { Command } from "commander";
import { createTestDatabase } from "../helpers/db.ts";
import { createDatabase, withTransaction, type Database } from "../../src/store/database.ts";
import { createLogger } from "../../src/shared/logger.ts";
import { errorHandler } from "../../src/http/error-handler.ts";
import { appendAudit, type AuditInput } from "../../src/audit/audit-log.ts";
import { exportAudit, queryAudit, sealAudit, verifyAudit } from "../../src/audit/audit-store.ts";
import { verifyChain } from "../../src/audit/audit-chain.ts";
import { auditRouter } from "../../src/admin/audit-routes.ts";
import { registerAuditCommands, type CliIo } from "../../src/admin/cli-audit.ts";

const T0 = new Date("2026-11-26T12:00:00.000Z");
const ev = (userId: string, over: Partial<AuditInput> = {}): AuditInput =>
  ({ kind: "membership.added", userId, groupName: "Engineering", cause: { changeId: 1, rule: "eng", policyVersion: "v7" }, ...over });

class Collect extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) { this.text += chunk.toString(); cb(); }
  lines() { return this.text.split("\n").filter(Boolean).map((l) => JSON.parse(l)); }
}

describe("audit log on PostgreSQL", () => {
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;
  let pool: pg.Pool;
  const count = async (where: string, params: unknown[] = []) =>
    Number((await pool.query(`SELECT count(*) AS n FROM audit_event WHERE ${where}`, params)).rows[0].n);
  // Tampering as the table owner (a superuser in tests): exactly what the triggers cannot stop.
  const asOwner = async (sql: string, params: unknown[] = []) => {
    await pool.query(`ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only`);
    try { return await pool.query(sql, params); } finally { await pool.query(`ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only`); }
  };

  before(async () => { tdb = await createTestDatabase(); db = createDatabase(tdb.url, { max: 40 }); pool = db.pool; });
  after(async () => { await db.close(); await tdb.drop(); });

  it("when 20 transactions append concurrently, some roll back and one commits late, then sealing never skips a row", async () => {
    // R takes its xid first; L then appends (lower seq) and stays open; R appends (higher seq) and commits.
    // R's row passes the per-row test "txid < xmin", yet sealing it would skip L's row for ever.
    const r = await pool.connect();
    const l = await pool.connect();
    try {
      await r.query("BEGIN");
      await r.query("SELECT pg_current_xact_id()");
      await l.query("BEGIN");
      await appendAudit(l, [ev("late", { kind: "account.disabled" })], T0);
      const lateSeq = Number((await l.query(`SELECT seq FROM audit_event WHERE user_id = 'late'`)).rows[0].seq);
      await appendAudit(r, [ev("early-xid")], T0);
      await r.query("COMMIT");

      // Explicit interleaving: every writer appends and stays open, the sealers start while all 21 are open,
      // then the writers end one by one in a scrambled order (7i mod 20), yielding to the sealers in between.
      const appended: Array<Promise<void>> = [];
      const finish: Array<() => void> = [];
      const writers = Array.from({ length: 20 }, (_, i) => {
        let onAppended!: () => void;
        appended.push(new Promise<void>((res) => (onAppended = res)));
        const mayFinish = new Promise<void>((res) => (finish[i] = res));
        return withTransaction(pool, async (c) => {
          await appendAudit(c, Array.from({ length: 1 + (i % 3) }, (_, k) => ev(`w${i}`, { details: { k } })), T0);
          onAppended();
          await mayFinish;
          if (i % 5 === 0) throw new Error("rolled back on purpose");
        }).then(() => 1 + (i % 3), () => 0);
      });
      await Promise.all(appended);
      const sealers = Array.from({ length: 5 }, () => sealAudit(pool, { maxWaitMs: 50 }));
      for (let k = 0; k < 20; k++) {
        finish[(7 * k) % 20]!();
        await new Promise((res) => setImmediate(res));
      }
      const committed = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
      await Promise.all(sealers);
      expect(committed).to.equal(32); // 4 of the 20 rolled back
      expect(await count("user_id = 'early-xid' AND txid < pg_snapshot_xmin(pg_current_snapshot())")).to.equal(1);

      const blocked = await sealAudit(pool, { maxWaitMs: 200 });
      expect(blocked.settled).to.equal(false);
      expect(await count("chain_index IS NOT NULL AND seq > $1", [lateSeq])).to.equal(0);

      await l.query("COMMIT");
      const done = await sealAudit(pool);
      expect(done.settled).to.equal(true);
      expect(await count("chain_index IS NULL")).to.equal(0);
      expect(await count("true")).to.equal(committed + 2);
      const order = (await pool.query(`SELECT seq, chain_index FROM audit_event ORDER BY chain_index`)).rows;
      expect(order.map((x) => Number(x.chain_index))).to.deep.equal(order.map((_, i) => i));
      expect(order.map((x) => Number(x.seq))).to.deep.equal(order.map((x) => Number(x.seq)).sort((a, b) => a - b));
      expect(await verifyAudit(pool)).to.deep.include({ ok: true, checked: committed + 2, pending: 0 });
    } finally {
      await l.query("ROLLBACK").catch(() => {});
      l.release();
      r.release();
    }
  });

  it("when several sealers run at once, then every row is chained exactly once", async () => {
    await Promise.all(Array.from({ length: 10 }, (_, i) => withTransaction(pool, (c) =>
      appendAudit(c, Array.from({ length: 50 }, (_, k) => ev(`bulk${i}`, { details: { k } })), T0))));
    const results = await Promise.all(Array.from({ length: 4 }, () => sealAudit(pool, { batchSize: 64 })));
    expect(results.reduce((a, x) => a + x.sealed, 0)).to.equal(500);
    expect(await verifyAudit(pool)).to.include({ ok: true, pending: 0 });
  });

  it("when someone updates, deletes, truncates or inserts a sealed row through the triggers, then PostgreSQL refuses", async () => {
    const row = (await pool.query(`SELECT seq FROM audit_event WHERE chain_index = 3`)).rows[0];
    for (const sql of [`UPDATE audit_event SET kind = 'account.enabled' WHERE seq = ${row.seq}`, `DELETE FROM audit_event WHERE seq = ${row.seq}`,
      `TRUNCATE audit_event`, `INSERT INTO audit_event (occurred_at, kind, chain_index, prev_hash, hash) VALUES (now(), 'x', 99999, 'a', 'b')`]) {
      const err = await pool.query(sql).then(() => null, (e: Error) => e);
      expect(err?.message, sql).to.match(/AUDIT_APPEND_ONLY/);
    }
    // even the sealer's flag does not allow changing content
    const err = await withTransaction(pool, async (c) => {
      await c.query(`SELECT set_config('scim_broker.audit_sealer', 'on', true)`);
      await c.query(`UPDATE audit_event SET kind = 'account.enabled' WHERE seq = $1`, [row.seq]);
    }).then(() => null, (e: Error) => e);
    expect(err?.message).to.match(/AUDIT_APPEND_ONLY/);
  });

  it("when a superuser disables the trigger and changes a row, then verify reports that row", async () => {
    const target = (await pool.query(`SELECT seq, group_name FROM audit_event WHERE chain_index = 5`)).rows[0];
    await asOwner(`UPDATE audit_event SET group_name = 'Domain Admins' WHERE seq = $1`, [target.seq]);
    const r = await verifyAudit(pool);
    expect(r).to.deep.include({ ok: false, reason: "hash_mismatch", brokenAt: { chainIndex: 5, seq: Number(target.seq) }, checked: 5 });
    await asOwner(`UPDATE audit_event SET group_name = $2 WHERE seq = $1`, [target.seq, target.group_name]);
    expect((await verifyAudit(pool)).ok).to.equal(true);
  });

  it("when a superuser deletes a sealed row, then verify reports the gap", async () => {
    const gone = (await pool.query(`SELECT * FROM audit_event WHERE chain_index = 7`)).rows[0];
    await asOwner(`DELETE FROM audit_event WHERE seq = $1`, [gone.seq]);
    const r = await verifyAudit(pool);
    expect(r).to.deep.include({ ok: false, reason: "row_missing", brokenAt: { chainIndex: 8, seq: r.brokenAt!.seq } });
    expect(r.detail).to.contain("chain index 7 missing");
    await asOwner(`INSERT INTO audit_event SELECT * FROM json_populate_record(NULL::audit_event, $1::json)`, [JSON.stringify(gone)]);
    expect((await verifyAudit(pool)).ok).to.equal(true);
  });

  it("when a row is inserted out of band below the sealed tip, then verify flags it and the sealer leaves it alone", async () => {
    const low = Number((await pool.query(`SELECT min(seq) + 1 AS s FROM audit_event WHERE seq + 1 NOT IN (SELECT seq FROM audit_event)`)).rows[0].s);
    await pool.query(`INSERT INTO audit_event (seq, occurred_at, kind, user_id) VALUES ($1, $2, 'membership.added', 'ghost')`, [low, T0]);
    const r = await verifyAudit(pool);
    expect(r).to.deep.include({ ok: false, reason: "out_of_band", brokenAt: { chainIndex: null, seq: low } });
    expect(await count("user_id = 'ghost' AND chain_index IS NULL")).to.equal(1);
    await asOwner(`DELETE FROM audit_event WHERE user_id = 'ghost'`);
  });

  it("when verifying from a recorded checkpoint, then only later rows are read and a rewritten checkpoint row is caught", async () => {
    const full = await verifyAudit(pool);
    await appendAudit(pool, [ev("after-checkpoint")], T0);
    expect(await verifyAudit(pool, { from: full.tip! })).to.deep.include({ ok: true, checked: 2 });
    const { rows } = await pool.query(`SELECT seq, details FROM audit_event WHERE chain_index = $1`, [full.tip!.chainIndex]);
    await asOwner(`UPDATE audit_event SET details = '{"x":1}' WHERE seq = $1`, [rows[0].seq]);
    expect(await verifyAudit(pool, { from: full.tip! })).to.include({ ok: false, reason: "checkpoint_mismatch" });
    await asOwner(`UPDATE audit_event SET details = $2 WHERE seq = $1`, [rows[0].seq, JSON.stringify(rows[0].details)]);
    expect((await verifyAudit(pool)).ok).to.equal(true);
  });

  describe("query, export, API and CLI", () => {
    const day = (d: number) => new Date(Date.UTC(2027, 0, d, 9));
    before(async () => {
      await appendAudit(pool, [ev("q-ann", { groupName: "Sales" }), ev("q-ann", { kind: "membership.removed", groupName: "Engineering" })], day(1));
      await appendAudit(pool, [ev("q-bob", { kind: "account.disabled", groupName: undefined, cause: { changeId: 42, actor: "workday" } })], day(2));
      await appendAudit(pool, [ev("q-ann", { kind: "app.deprovisioned", app: "github", groupName: undefined })], day(3));
      await sealAudit(pool);
    });

    it("when filtering by user, group, kind and time, then only matching events come back, in seq order", async () => {
      const ann = await queryAudit(pool, { userId: "q-ann" });
      expect(ann.items.map((e) => e.kind)).to.deep.equal(["membership.added", "membership.removed", "app.deprovisioned"]);
      expect(ann.next).to.equal(null);
      expect((await queryAudit(pool, { group: "sales" })).items.map((e) => e.userId)).to.deep.equal(["q-ann"]);
      expect((await queryAudit(pool, { kind: ["account.disabled", "app.deprovisioned"], from: day(1) })).items.map((e) => e.userId)).to.deep.equal(["q-bob", "q-ann"]);
      const window = await queryAudit(pool, { from: day(2), to: day(3) });
      expect(window.items).to.have.length(1);
      expect(window.items[0]).to.deep.include({ userId: "q-bob", cause: { changeId: 42, actor: "workday" }, at: day(2) });
      expect(window.items[0].hash).to.match(/^[0-9a-f]{64}$/);
    });

    it("when paging with limit and after, then pages are disjoint and complete", async () => {
      const p1 = await queryAudit(pool, { userId: "q-ann", limit: 2 });
      expect(p1.items).to.have.length(2);
      const p2 = await queryAudit(pool, { userId: "q-ann", limit: 2, after: p1.next! });
      expect(p2.items.map((e) => e.kind)).to.deep.equal(["app.deprovisioned"]);
      expect(p2.next).to.equal(null);
    });

    it("when exporting, then every line is JSON and an unfiltered export verifies offline", async () => {
      const all = new Collect();
      const n = await exportAudit(pool, all, {}, { batchSize: 100 });
      const lines = all.lines();
      expect(lines).to.have.length(n).and.to.have.length(await count("true"));
      expect(verifyChain(lines)).to.include({ ok: true, checked: n });
      const bob = new Collect();
      await exportAudit(pool, bob, { userId: "q-bob" });
      expect(bob.lines()).to.have.length(1);
      expect(bob.lines()[0]).to.include({ kind: "account.disabled", at: day(2).toISOString() });
    });

    it("when the HTTP router is mounted, then GET /audit filters and POST /audit/verify answers", async () => {
      const app = express();
      app.use("/admin/v1", auditRouter({ pool }));
      app.use(errorHandler(createLogger({ level: "silent" })));
      const server: Server = await new Promise((res) => { const s = app.listen(0, "127.0.0.1", () => res(s)); });
      try {
        const got = await request(server).get("/admin/v1/audit").query({ user: "q-ann", kind: "membership.added,app.deprovisioned", limit: "1" });
        expect(got.status).to.equal(200);
        expect(got.body.items).to.have.length(1);
        expect(got.body.items[0]).to.include({ kind: "membership.added", groupName: "Sales", at: day(1).toISOString() });
        const next = await request(server).get("/admin/v1/audit").query({ user: "q-ann", kind: "membership.added,app.deprovisioned", after: String(got.body.next) });
        expect(next.body.items.map((e: any) => e.kind)).to.deep.equal(["app.deprovisioned"]);
        expect((await request(server).get("/admin/v1/audit?from=2027-01-02&to=2027-01-03T00:00:00Z")).body.items).to.have.length(1);
        const bad = await request(server).get("/admin/v1/audit?kind=membership.exploded");
        expect(bad.status).to.equal(400);
        expect(bad.body.detail).to.contain("unknown kind 'membership.exploded'");
        expect((await request(server).get("/admin/v1/audit?from=yesterday")).status).to.equal(400);
        expect((await request(server).get("/admin/v1/audit?limit=5000")).status).to.equal(400);
        const ok = await request(server).post("/admin/v1/audit/verify").send({});
        expect(ok.status).to.equal(200);
        expect(ok.body).to.include({ ok: true, checked: await count("true") });
        const total = await count("true");
        const victim = (await pool.query(`SELECT seq, kind FROM audit_event WHERE chain_index = 2`)).rows[0];
        await asOwner(`UPDATE audit_event SET kind = 'account.enabled' WHERE seq = $1`, [victim.seq]);
        const broken = await request(server).post("/admin/v1/audit/verify").send({});
        expect(broken.body).to.deep.include({ ok: false, checked: 2, reason: "hash_mismatch", brokenAt: { chainIndex: 2, seq: Number(victim.seq) } });
        await asOwner(`UPDATE audit_event SET kind = $2 WHERE seq = $1`, [victim.seq, victim.kind]);
        expect((await request(server).post("/admin/v1/audit/verify").send({ fromChainIndex: 1, fromHash: "zz" })).status).to.equal(400);
        expect(await count("true")).to.equal(total);
      } finally {
        await new Promise((res) => server.close(res));
      }
    });

    it("when the CLI verifies and exports, then it prints the checkpoint, exits 1 on a broken chain and writes JSON lines", async () => {
      const io = { stdout: new Collect(), lines: [] as string[], errs: [] as string[], code: 0 };
      const cliIo: CliIo = { stdout: io.stdout, out: (l) => io.lines.push(l), err: (l) => io.errs.push(l), setExitCode: (c) => { io.code = c; } };
      const program = new Command("scim-broker").exitOverride();
      registerAuditCommands(program, (fn) => fn(db), cliIo);
      const run = (...args: string[]) => program.parseAsync(["node", "scim-broker", ...args]);

      await run("audit", "verify");
      expect(io.code).to.equal(0);
      expect(io.lines[0]).to.match(/^ok: \d+ rows verified, 0 not sealed yet$/);
      expect(io.lines[1]).to.match(/^checkpoint: --from-index \d+ --from-hash [0-9a-f]{64}$/);

      const victim = (await pool.query(`SELECT seq, user_id FROM audit_event WHERE chain_index = 4`)).rows[0];
      await asOwner(`UPDATE audit_event SET user_id = 'mallory' WHERE seq = $1`, [victim.seq]);
      io.lines = [];
      await run("audit", "verify");
      expect(io.code).to.equal(1);
      expect(io.lines[0]).to.equal(`BROKEN at chain index 4, seq ${victim.seq}: hash_mismatch — row #4 (seq ${victim.seq}) does not match its hash`);
      await asOwner(`UPDATE audit_event SET user_id = $2 WHERE seq = $1`, [victim.seq, victim.user_id]);

      const file = join(tmpdir(), `audit-export-${process.pid}.jsonl`);
      try {
        await run("audit", "export", "--user", "q-ann", "--kind", "membership.added", "membership.removed", "--from", "2027-01-01", "--out", file);
        const lines = (await readFile(file, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
        expect(lines.map((e) => e.kind)).to.deep.equal(["membership.added", "membership.removed"]);
        expect(io.errs.at(-1)).to.equal(`exported 2 events to ${file}`);
      } finally {
        await rm(file, { force: true });
      }
      await run("audit", "export", "--group", "SALES");
      expect(io.stdout.lines().map((e) => e.userId)).to.deep.equal(["q-ann"]);
    });
  });
});
