// A group's version under concurrent membership changes (src/lifecycle/membership-store.ts touchGroups,
// migration 20261213100000_group_version_shards), on real PostgreSQL: two HR transactions that change the
// members of the same group do not queue on each other's commit, and the group's version and lastModified
// still move with every committed change (RFC 7644 §3.14).
import { expect } from "chai";
import pg from "pg";
import { createTestPool } from "../helpers/db.ts";
import { touchGroups } from "../../src/lifecycle/membership-store.ts";
import { findGroup, insertGroup } from "../../src/store/group-repository.ts";

describe("group versions: membership bumps in per-connection shards", function () {
  let db: Awaited<ReturnType<typeof createTestPool>>;
  let pool: pg.Pool;
  before(async () => { db = await createTestPool(4); pool = db.pool; });
  after(async () => { await db?.close(); });

  const t0 = new Date("2026-12-01T09:00:00.000Z");
  const group = (name: string) => insertGroup(pool, { displayName: `${name}-${Date.now()}`, externalId: null, data: { schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"] } }, t0);

  it("when two open transactions bump the same group, then the second does not wait for the first to commit", async () => {
    const g = await group("all-staff");
    // Two connections in different shards (backend pid mod 64, as the migration says): two that share one
    // meet on its row, as they would in production one time in 64.
    const shard = async (c: pg.PoolClient) => (await c.query("SELECT pg_backend_pid() % 64 AS s")).rows[0].s as number;
    const a = await pool.connect();
    const spare: pg.PoolClient[] = [];
    let b = await pool.connect();
    while (await shard(b) === await shard(a)) { spare.push(b); b = await pool.connect(); }
    for (const c of spare) c.release();
    try {
      await a.query("BEGIN");
      await touchGroups(a, [g.id], new Date(t0.getTime() + 1000));
      await b.query("BEGIN");
      // Were the bump a lock on the group's row (as it was), this would wait for `a` and fail here.
      await b.query("SET LOCAL lock_timeout = '2s'");
      await touchGroups(b, [g.id], new Date(t0.getTime() + 2000));
      await b.query("COMMIT");
      await a.query("COMMIT");
    } finally { a.release(); b.release(); }
    const after = (await findGroup(pool, g.id))!;
    expect(after.version).to.equal(g.version + 2);
    expect(after.updatedAt.toISOString()).to.equal(new Date(t0.getTime() + 2000).toISOString());
  });

  it("when a bump rolls back, then the version does not move; a later one moves it once", async () => {
    const g = await group("finance");
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      await touchGroups(c, [g.id], new Date(t0.getTime() + 5000));
      await c.query("ROLLBACK");
    } finally { c.release(); }
    expect((await findGroup(pool, g.id))!.version).to.equal(g.version);
    await touchGroups(pool, [g.id, g.id], new Date(t0.getTime() + 6000));
    expect((await findGroup(pool, g.id))!.version).to.equal(g.version + 1);
  });

  it("when a group is deleted, then its shards go with it", async () => {
    const g = await group("gone");
    await touchGroups(pool, [g.id], t0);
    await pool.query("DELETE FROM scim_group WHERE id = $1", [g.id]);
    expect((await pool.query("SELECT count(*)::int AS n FROM group_version_shard WHERE group_id = $1", [g.id])).rows[0].n).to.equal(0);
  });
});
