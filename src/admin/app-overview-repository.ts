// Read-only SQL for the console's Apps page, beside what GET /apps already says: the queue depth per app
// (as the broker_fanout_queue_depth metric counts it), its last confirmed delivery, and its own leaver SLA — from the HR request
// (leaver_sla.requested_at) to that app's confirmed deprovisioning (its app.deprovisioned audit row).
import type pg from "pg";
import { mapDbError } from "../store/database.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface AppOverview { app: string; queueDepth: number; lastDeliveryAt: Date | null; leaverSla: { completed: number; pending: number; p50Ms: number | null; p99Ms: number | null } }

export async function appOverview(q: Q, since: Date): Promise<AppOverview[]> {
  try {
    const [queue, sla, pending] = await Promise.all([
      q.query(`SELECT app, sum(n)::int AS n, max(last) AS last FROM (
          SELECT app, count(*) FILTER (WHERE status IN ('pending', 'quarantined')) AS n, max(delivered_at) AS last FROM app_account GROUP BY app
          UNION ALL SELECT app, count(*) FILTER (WHERE status IN ('pending', 'quarantined')), max(delivered_at) FROM app_group GROUP BY app) x GROUP BY app`),
      // audit_event (user_id, seq) is indexed; the leavers of the window are few next to the audit log.
      q.query(`WITH s AS (SELECT id, user_id::text AS user_id, requested_at FROM leaver_sla WHERE requested_at >= $1),
                    d AS (SELECT s.id, a.app, extract(epoch FROM min(a.occurred_at) - s.requested_at) * 1000 AS ms
                            FROM s JOIN audit_event a ON a.user_id = s.user_id AND a.kind = 'app.deprovisioned' AND a.occurred_at >= s.requested_at
                           GROUP BY s.id, a.app, s.requested_at)
               SELECT app, count(*)::int AS completed,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
                 FROM d GROUP BY app`, [since]),
      q.query(`SELECT p.app, count(*)::int AS n FROM leaver_sla, unnest(pending_apps) AS p(app)
                WHERE completed_at IS NULL AND requested_at >= $1 GROUP BY p.app`, [since]),
    ]);
    const out = new Map<string, AppOverview>();
    const get = (app: string) => out.get(app) ?? out.set(app, { app, queueDepth: 0, lastDeliveryAt: null, leaverSla: { completed: 0, pending: 0, p50Ms: null, p99Ms: null } }).get(app)!;
    const ms = (v: unknown) => (v === null ? null : Math.round(Number(v) * 10) / 10);
    for (const r of queue.rows) Object.assign(get(r.app), { queueDepth: r.n, lastDeliveryAt: r.last });
    for (const r of sla.rows) Object.assign(get(r.app).leaverSla, { completed: r.completed, p50Ms: ms(r.p50), p99Ms: ms(r.p99) });
    for (const r of pending.rows) get(r.app).leaverSla.pending = r.n;
    return [...out.values()].sort((a, b) => a.app.localeCompare(b.app));
  } catch (e) { mapDbError(e); }
}
