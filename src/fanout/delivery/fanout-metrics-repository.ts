// SQL behind the fan-out's gauges (fanout-metrics.ts), read at scrape time: one number per app that has a row.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;
export type PerApp = Array<{ app: string; n: number }>;

async function perApp(q: Q, sql: string): Promise<PerApp> {
  const { rows } = await q.query(sql);
  return rows.map((r) => ({ app: r.app as string, n: Number(r.n) }));
}

/** 1 for a quarantined app (either kind), else 0. */
export const quarantinedApps = (q: Q) => perApp(q, `SELECT app, CASE WHEN quarantined THEN 1 ELSE 0 END AS n FROM app_state`);

/** 1 for an app quarantined because it refuses our credentials, else 0. */
export const authFailingApps = (q: Q) => perApp(q, `SELECT app, CASE WHEN quarantined AND quarantine_kind = 'auth' THEN 1 ELSE 0 END AS n FROM app_state`);

/** Accounts and groups whose desired state the app has not confirmed yet. */
export const queueDepths = (q: Q) => perApp(q, `SELECT app, sum(n) AS n FROM (
    SELECT app, count(*) AS n FROM app_account WHERE status IN ('pending', 'quarantined') GROUP BY app
    UNION ALL SELECT app, count(*) FROM app_group WHERE status IN ('pending', 'quarantined') GROUP BY app) x GROUP BY app`);

/** Dead letters not replayed. */
export const openDeadLetters = (q: Q) => perApp(q, `SELECT app, count(*) AS n FROM dead_letter WHERE replayed_at IS NULL GROUP BY app`);
