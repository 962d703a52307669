// withTransaction's pipelined transaction (src/store/database.ts) on real PostgreSQL: a write-behind statement
// travels with the COMMIT in one socket write, is seen by the statements after it, and when it fails the
// whole transaction fails with its error, as if it had been awaited.
import { expect } from "chai";
import pg from "pg";
import { createTestPool } from "../helpers/db.ts";
import { withTransaction, writeBehind, writeTogether } from "../../src/store/database.ts";

describe("store: pipelined transactions and write-behind statements", function () {
  let db: Awaited<ReturnType<typeof createTestPool>>;
  let pool: pg.Pool;
  /** Socket writes (syscall-level: one per _write or _writev) of each pooled connection since it connected. */
  const writes = new WeakMap<pg.PoolClient, { n: number }>();
  before(async () => {
    db = await createTestPool(1); // one connection: every transaction below runs on the same, counted client
    pool = db.pool;
    pool.on("connect", (client) => {
      const stream = (client as unknown as { connection: { stream: { _write: Function; _writev: Function } } }).connection.stream;
      const counter = { n: 0 };
      writes.set(client, counter);
      for (const m of ["_write", "_writev"] as const) {
        const original = stream[m];
        stream[m] = function (this: unknown, ...args: unknown[]) { counter.n++; return original.apply(this, args); };
      }
    });
    await pool.query(`CREATE TABLE probe (id int PRIMARY KEY, note text)`);
  });
  after(async () => { await db?.close(); });
  beforeEach(async () => { await pool.query(`TRUNCATE probe`); });

  const ids = async () => (await pool.query(`SELECT id FROM probe ORDER BY id`)).rows.map((r) => r.id);

  it("when a transaction ends with a write-behind statement, then it and the COMMIT leave in one socket write, and both rows are kept", async () => {
    let sent = -1;
    await withTransaction(pool, async (tx) => {
      await tx.query(`INSERT INTO probe VALUES (1, 'awaited')`);
      const counter = writes.get(tx)!;
      const before = counter.n;
      await writeBehind(tx, { text: `INSERT INTO probe VALUES ($1, 'behind')`, values: [2] });
      // The COMMIT is written after fn returns; count once the transaction is over (below).
      sent = before;
    });
    const client = await pool.connect();
    const after = writes.get(client)!.n;
    client.release();
    expect(after - sent, "one write for the write-behind statement and the COMMIT").to.equal(1);
    expect(await ids()).to.deep.equal([1, 2]);
  });

  it("when statements follow a write-behind one, then they see what it wrote", async () => {
    const seen = await withTransaction(pool, async (tx) => {
      await tx.query(`SELECT 1`);
      await writeBehind(tx, { text: `INSERT INTO probe VALUES (3, 'behind')` });
      return (await tx.query(`SELECT count(*)::int AS n FROM probe`)).rows[0].n;
    });
    expect(seen).to.equal(1);
    expect(await ids()).to.deep.equal([3]);
  });

  it("when a write-behind statement fails, then the transaction fails with its error and keeps nothing", async () => {
    await pool.query(`INSERT INTO probe VALUES (9, 'taken')`);
    const err = await withTransaction(pool, async (tx) => {
      await tx.query(`INSERT INTO probe VALUES (4, 'awaited')`);
      await writeBehind(tx, { text: `INSERT INTO probe VALUES (9, 'duplicate')` });
    }).then(() => null, (e) => e);
    expect(err?.code, "the statement's own error (unique_violation)").to.equal("23505");
    expect(await ids()).to.deep.equal([9]);
  });

  it("when a statement after a failed write-behind one is refused, then the error is the write-behind one's, not 'transaction aborted'", async () => {
    await pool.query(`INSERT INTO probe VALUES (9, 'taken')`);
    const err = await withTransaction(pool, async (tx) => {
      await tx.query(`SELECT 1`);
      await writeBehind(tx, { text: `INSERT INTO probe VALUES (9, 'duplicate')` });
      await tx.query(`INSERT INTO probe VALUES (5, 'after')`); // refused: 25P02
    }).then(() => null, (e) => e);
    expect(err?.code).to.equal("23505");
    expect(await ids()).to.deep.equal([9]);
  });

  it("when statements are issued together, then they leave in one write and run in the order issued", async () => {
    const out = await withTransaction(pool, async (tx) => {
      await tx.query(`SELECT 1`);
      const counter = writes.get(tx)!;
      const before = counter.n;
      writeTogether(tx);
      const [a, b] = await Promise.all([
        tx.query(`INSERT INTO probe VALUES (6, 'first') RETURNING id`),
        tx.query(`SELECT count(*)::int AS n FROM probe`)]);
      return { writes: counter.n - before, inserted: a.rows[0].id, seen: b.rows[0].n };
    });
    expect(out).to.deep.equal({ writes: 1, inserted: 6, seen: 1 });
  });

  it("when a read is issued right behind a row lock that must wait, then it runs after the lock is granted and sees what the holder committed", async () => {
    // What userLocked relies on (scim/write-context.ts): a statement pipelined behind `SELECT … FOR UPDATE`
    // starts only once that one has its lock, so it reads the state the previous writer committed.
    await pool.query(`INSERT INTO probe VALUES (7, 'before')`);
    const holder = new pg.Client({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString });
    await holder.connect();
    try {
      await holder.query(`BEGIN`);
      await holder.query(`UPDATE probe SET note = 'held' WHERE id = 7`);
      const read = withTransaction(pool, async (tx) => {
        writeTogether(tx);
        const locked = tx.query(`SELECT note FROM probe WHERE id = 7 FOR UPDATE`);
        const behind = tx.query(`SELECT note FROM probe WHERE id = 7`);
        return [(await locked).rows[0].note, (await behind).rows[0].note];
      });
      // Until the transaction above waits for the row (polled, not slept on).
      while ((await holder.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n === 0);
      await holder.query(`UPDATE probe SET note = 'committed' WHERE id = 7`);
      await holder.query(`COMMIT`);
      expect(await read).to.deep.equal(["committed", "committed"]);
    } finally { await holder.end(); }
  });

  it("when writeBehind is called outside withTransaction, then it is awaited: its error is thrown there", async () => {
    await pool.query(`INSERT INTO probe VALUES (9, 'taken')`);
    const err = await writeBehind(pool, { text: `INSERT INTO probe VALUES (9, 'duplicate')` }).then(() => null, (e) => e);
    expect(err?.code).to.equal("23505");
  });
});
