// The statement that records a leaver's outcomes in every app at once (src/fanout/delivery/account-batch-repository.ts
// completeUserInApps), on real PostgreSQL. The fast path falls back to one statement per app when it fails,
// which gives the same rows: only a direct call shows that the one statement itself works.
import { expect } from "chai";
import pg from "pg";
import { randomUUID } from "node:crypto";
import { createTestPool } from "../helpers/db.ts";
import { completeUserInApps } from "../../src/fanout/delivery/account-batch-repository.ts";
import type { Completion } from "../../src/fanout/delivery/account-repository.ts";

describe("fan-out store: one leaver's outcomes in many apps, one statement", function () {
  let db: Awaited<ReturnType<typeof createTestPool>>;
  let pool: pg.Pool;
  before(async () => { db = await createTestPool(2); pool = db.pool; });
  after(async () => { await db?.close(); });

  const at = new Date("2026-12-01T10:00:00.000Z");
  const owner = "proc-1/fast";
  /** A leaver pending in `apps`, every lease held by `owner`, and its open SLA over all of them. */
  const leaverIn = async (apps: string[]) => {
    const userId = randomUUID();
    for (const app of apps)
      await pool.query(`INSERT INTO app_account (app, user_id, user_name, status, leaver, desired_version, lease_owner, lease_until)
        VALUES ($1, $2, 'leaver@example.com', 'pending', true, 3, $3, now() + interval '1 minute')`, [app, userId, owner]);
    await pool.query(`INSERT INTO leaver_sla (user_id, user_name, requested_at, apps_total, pending_apps) VALUES ($1, 'leaver@example.com', $2, $3, $4)`,
      [userId, new Date(at.getTime() - 40), apps.length, apps]);
    return userId;
  };
  const done = (userId: string, app: string, confirmsLeaver = true): { app: string; c: Completion } =>
    ({ app, c: { remoteId: `r-${app}`, status: "deprovisioned", version: 3, hash: "h", attrs: null, at, confirmsLeaver,
      audit: [{ kind: "app.deprovisioned", userId, app, cause: {}, details: { via: "test" } }] } });

  it("when every app confirms, then each account is recorded and released, the SLA closes once, and each app is audited", async () => {
    const userId = await leaverIn(["x1", "x2", "x3"]);
    const out = await completeUserInApps(pool, userId, owner, ["x1", "x2", "x3"].map((a) => done(userId, a)), at);
    expect([...out.values()].map((r) => [r.recorded, r.newer])).to.deep.equal([[true, false], [true, false], [true, false]]);
    expect([...out.values()].flatMap((r) => r.completedSlas), "the SLA is reported once").to.have.length(1);
    const { rows } = await pool.query(`SELECT app, status, remote_id, lease_owner, leaver FROM app_account WHERE user_id = $1 ORDER BY app`, [userId]);
    expect(rows).to.deep.equal(["x1", "x2", "x3"].map((app) => ({ app, status: "deprovisioned", remote_id: `r-${app}`, lease_owner: null, leaver: false })));
    const sla = (await pool.query(`SELECT pending_apps, completed_at FROM leaver_sla WHERE user_id = $1`, [userId])).rows[0];
    expect(sla.pending_apps).to.deep.equal([]);
    expect(sla.completed_at.toISOString()).to.equal(at.toISOString());
    const audited = (await pool.query(`SELECT app FROM audit_event WHERE user_id = $1 AND kind = 'app.deprovisioned' ORDER BY app`, [userId])).rows;
    expect(audited.map((r) => r.app)).to.deep.equal(["x1", "x2", "x3"]);
  });

  it("when only some apps confirm, then the SLA keeps the others pending and stays open", async () => {
    const userId = await leaverIn(["y1", "y2", "y3"]);
    const out = await completeUserInApps(pool, userId, owner, [done(userId, "y1"), done(userId, "y2", false)], at);
    expect([...out.values()].flatMap((r) => r.completedSlas)).to.deep.equal([]);
    const sla = (await pool.query(`SELECT pending_apps, completed_at FROM leaver_sla WHERE user_id = $1`, [userId])).rows[0];
    expect(sla).to.deep.equal({ pending_apps: ["y2", "y3"], completed_at: null });
  });

  it("when a lease is no longer ours, then that app's outcome is not recorded and the others are", async () => {
    const userId = await leaverIn(["z1", "z2"]);
    await pool.query(`UPDATE app_account SET lease_owner = 'proc-2/w1' WHERE user_id = $1 AND app = 'z2'`, [userId]);
    const out = await completeUserInApps(pool, userId, owner, [done(userId, "z1"), done(userId, "z2")], at);
    expect(out.get("z1")!.recorded).to.equal(true);
    expect(out.get("z2")!.recorded).to.equal(false);
    const sla = (await pool.query(`SELECT pending_apps FROM leaver_sla WHERE user_id = $1`, [userId])).rows[0];
    expect(sla.pending_apps).to.deep.equal(["z2"]);
  });
});
