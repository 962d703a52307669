// SQL for app_state: per-app health and operator switches, shared by every broker process (the database is
// the only place two brokers agree on "this app is quarantined" or "the app asked us to wait until …").
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface AppStateRow {
  app: string;
  disabled: boolean;
  disabledReason: string | null;
  quarantined: boolean;
  quarantinedSince: Date | null;
  probeAt: Date | null;
  probeCount: number;
  consecutiveFailures: number;
  failingSince: Date | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastError: Record<string, unknown> | null;
  pausedUntil: Date | null;
  updatedAt: Date;
}

const toState = (r: any): AppStateRow => ({
  app: r.app, disabled: r.disabled, disabledReason: r.disabled_reason, quarantined: r.quarantined, quarantinedSince: r.quarantined_since,
  probeAt: r.probe_at, probeCount: r.probe_count, consecutiveFailures: r.consecutive_failures, failingSince: r.failing_since,
  lastSuccessAt: r.last_success_at, lastFailureAt: r.last_failure_at, lastError: r.last_error, pausedUntil: r.paused_until, updatedAt: r.updated_at,
});

export async function ensureAppStates(q: Q, apps: readonly string[]): Promise<void> {
  if (apps.length) await q.query(`INSERT INTO app_state (app) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, [apps]);
}

export async function appStates(q: Q): Promise<Map<string, AppStateRow>> {
  const { rows } = await q.query(`SELECT * FROM app_state ORDER BY app`);
  return new Map(rows.map((r) => [r.app as string, toState(r)]));
}

export async function appState(q: Q, app: string): Promise<AppStateRow | null> {
  const { rows } = await q.query(`SELECT * FROM app_state WHERE app = $1`, [app]);
  return rows[0] ? toState(rows[0]) : null;
}

/**
 * Counts one retryable failure. Quarantines the app (once, atomically: exactly one caller gets
 * `quarantined: "now"`) when `threshold` consecutive deliveries have failed.
 */
export async function recordFailure(q: Q, app: string, error: object, at: Date, threshold: number, probeInMs: number): Promise<{ failures: number; quarantined: "now" | "already" | false }> {
  const { rows } = await q.query(
    `WITH before AS (SELECT quarantined FROM app_state WHERE app = $1 FOR UPDATE)
     UPDATE app_state SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, $2),
            last_failure_at = $2, last_error = $3::jsonb, updated_at = $2,
            quarantined = quarantined OR consecutive_failures + 1 >= $4,
            quarantined_since = CASE WHEN NOT quarantined AND consecutive_failures + 1 >= $4 THEN $2 ELSE quarantined_since END,
            probe_at = CASE WHEN NOT quarantined AND consecutive_failures + 1 >= $4 THEN now() + $5 * interval '1 millisecond' ELSE probe_at END,
            probe_count = CASE WHEN NOT quarantined AND consecutive_failures + 1 >= $4 THEN 0 ELSE probe_count END
      WHERE app = $1
     RETURNING consecutive_failures, quarantined, (SELECT quarantined FROM before) AS was`,
    [app, at, JSON.stringify(error), threshold, probeInMs]);
  const r = rows[0];
  if (!r) return { failures: 0, quarantined: false };
  return { failures: r.consecutive_failures, quarantined: r.quarantined ? (r.was ? "already" : "now") : false };
}

/** A delivery succeeded: the failure streak ends (written only when there was one). */
export async function recordSuccess(q: Q, app: string, at: Date): Promise<void> {
  await q.query(
    `UPDATE app_state SET consecutive_failures = 0, failing_since = NULL, last_success_at = $2, updated_at = $2
      WHERE app = $1 AND consecutive_failures > 0 AND NOT quarantined`, [app, at]);
}

/** The app asked us to wait (429/503 Retry-After): no process sends before `until`. */
export async function pauseApp(q: Q, app: string, until: Date): Promise<void> {
  await q.query(`UPDATE app_state SET paused_until = greatest(coalesce(paused_until, $2), $2) WHERE app = $1`, [app, until]);
}

/** A probe failed: the next one after a longer interval. Returns the next probe time. */
export async function deferProbe(q: Q, app: string, at: Date, baseMs: number, maxMs: number, error: object): Promise<Date> {
  const { rows } = await q.query(
    `UPDATE app_state SET probe_count = probe_count + 1, last_failure_at = $2, last_error = $5::jsonb, updated_at = $2,
            probe_at = now() + least($4, $3 * power(2, probe_count + 1)) * interval '1 millisecond'
      WHERE app = $1 RETURNING probe_at`, [app, at, baseMs, maxMs, JSON.stringify(error)]);
  return rows[0]?.probe_at ?? new Date(Date.now() + baseMs);
}

/** A probe succeeded: the app leaves quarantine. True when this call released it. */
export async function releaseQuarantine(q: Q, app: string, at: Date): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE app_state SET quarantined = false, quarantined_since = NULL, probe_at = NULL, probe_count = 0,
            consecutive_failures = 0, failing_since = NULL, last_success_at = $2, updated_at = $2
      WHERE app = $1 AND quarantined`, [app, at]);
  return (rowCount ?? 0) > 0;
}

export async function setDisabled(q: Q, app: string, disabled: boolean, reason: string | null, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO app_state (app, disabled, disabled_reason, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (app) DO UPDATE SET disabled = $2, disabled_reason = $3, updated_at = $4`, [app, disabled, disabled ? reason : null, at]);
}
