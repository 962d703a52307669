// SQL for leaver_sla: one row per leaver event with apps to deprovision, from the HR request (the time of
// its change record) to the last app's confirmation. Rows are opened by the outbox in the HR transaction
// and closed by completeUser (account-repository.ts) when the last pending app confirms.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface LeaverSla {
  id: number;
  userId: string;
  userName: string | null;
  changeId: number | null;
  requestedAt: Date;
  completedAt: Date | null;
  /** completedAt − requestedAt; null while apps are pending. */
  durationMs: number | null;
  appsTotal: number;
  pendingApps: string[];
}

const toSla = (r: any): LeaverSla => ({
  id: Number(r.id), userId: r.user_id, userName: r.user_name, changeId: r.change_id === null ? null : Number(r.change_id),
  requestedAt: r.requested_at, completedAt: r.completed_at,
  durationMs: r.completed_at ? r.completed_at.getTime() - r.requested_at.getTime() : null,
  appsTotal: r.apps_total, pendingApps: r.pending_apps,
});

/** Newest first; at most `limit` when given. */
export async function leaverSlasOfUser(q: Q, userId: string, limit?: number): Promise<LeaverSla[]> {
  const { rows } = await q.query(`SELECT * FROM leaver_sla WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, [userId, limit ?? null]);
  return rows.map(toSla);
}

export async function recentLeaverSlas(q: Q, opts: { open?: boolean; limit?: number } = {}): Promise<LeaverSla[]> {
  const { rows } = await q.query(
    `SELECT * FROM leaver_sla WHERE (NOT $1::boolean OR completed_at IS NULL) ORDER BY id DESC LIMIT $2`, [opts.open ?? false, opts.limit ?? 100]);
  return rows.map(toSla);
}

/** p50/p99/max over completed SLAs since `since` (PostgreSQL percentile_cont), for the API summary. */
export async function leaverSlaSummary(q: Q, since: Date): Promise<{ completed: number; open: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null }> {
  const { rows } = await q.query(
    `WITH d AS (SELECT extract(epoch FROM completed_at - requested_at) * 1000 AS ms FROM leaver_sla WHERE completed_at IS NOT NULL AND requested_at >= $1)
     SELECT (SELECT count(*)::int FROM d) AS completed,
            (SELECT count(*)::int FROM leaver_sla WHERE completed_at IS NULL AND requested_at >= $1) AS open,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM d) AS p50,
            (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM d) AS p99,
            (SELECT max(ms) FROM d) AS max`, [since]);
  const r = rows[0];
  const n = (v: unknown) => (v === null ? null : Math.round(Number(v) * 10) / 10);
  return { completed: r.completed, open: r.open, p50Ms: n(r.p50), p99Ms: n(r.p99), maxMs: n(r.max) };
}
