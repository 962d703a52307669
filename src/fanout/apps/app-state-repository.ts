// SQL for app_state: per-app health and operator switches, shared by every broker process (the database is
// the only place two brokers agree on "this app is quarantined" or "the app asked us to wait until …").
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface AppStateRow {
  app: string;
  disabled: boolean;
  disabledReason: string | null;
  quarantined: boolean;
  /** outage | auth (app-health.ts); null when not quarantined. */
  quarantineKind: "outage" | "auth" | null;
  quarantinedSince: Date | null;
  probeAt: Date | null;
  probeCount: number;
  consecutiveFailures: number;
  failingSince: Date | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastError: Record<string, unknown> | null;
  pausedUntil: Date | null;
  /** The last release of a quarantine: failures of requests started before it are ignored. */
  releasedAt: Date | null;
  updatedAt: Date;
}

const toState = (r: any): AppStateRow => ({
  app: r.app, disabled: r.disabled, disabledReason: r.disabled_reason, quarantined: r.quarantined, quarantineKind: r.quarantine_kind ?? null, quarantinedSince: r.quarantined_since,
  probeAt: r.probe_at, probeCount: r.probe_count, consecutiveFailures: r.consecutive_failures, failingSince: r.failing_since,
  lastSuccessAt: r.last_success_at, lastFailureAt: r.last_failure_at, lastError: r.last_error, pausedUntil: r.paused_until, releasedAt: r.released_at ?? null, updatedAt: r.updated_at,
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

/** Events of requests that began before the app's last transition are stale (see app-health.ts). */
const FRESH = `(s.released_at IS NULL OR s.released_at <= $STARTED)`;
/**
 * The row as it was before this statement, locked first: RETURNING only sees new values, and a CTE that
 * re-reads the row after the UPDATE (same statement) finds nothing — every caller then believed it made the
 * transition, and logged it. Under concurrency the lock makes the second statement see the first's result.
 */
const BEFORE = `(SELECT app, quarantined, quarantine_kind, consecutive_failures FROM app_state WHERE app = $1 FOR UPDATE) b`;

/**
 * Counts one outage-like failure. Quarantines the app (once, atomically: exactly one caller gets
 * `quarantined: "now"`) when `threshold` consecutive deliveries have failed; the first probe is due
 * `probeInMs` later (on the caller's clock).
 */
export async function recordFailure(q: Q, app: string, error: object, at: Date, startedAt: Date, threshold: number, probeInMs: number): Promise<{ failures: number; quarantined: "now" | "already" | false; stale?: true }> {
  const { rows } = await q.query(
    `UPDATE app_state s SET consecutive_failures = s.consecutive_failures + 1, failing_since = coalesce(s.failing_since, $2),
            last_failure_at = $2, last_error = $3::jsonb, updated_at = $2,
            quarantined = s.quarantined OR s.consecutive_failures + 1 >= $4,
            quarantine_kind = CASE WHEN s.quarantined THEN s.quarantine_kind WHEN s.consecutive_failures + 1 >= $4 THEN 'outage' END,
            quarantined_since = CASE WHEN NOT s.quarantined AND s.consecutive_failures + 1 >= $4 THEN $2 ELSE s.quarantined_since END,
            probe_at = CASE WHEN NOT s.quarantined AND s.consecutive_failures + 1 >= $4 THEN $2::timestamptz + $5 * interval '1 millisecond' ELSE s.probe_at END,
            probe_count = CASE WHEN NOT s.quarantined AND s.consecutive_failures + 1 >= $4 THEN 0 ELSE s.probe_count END
       FROM ${BEFORE} WHERE s.app = $1 AND ${FRESH.replace("$STARTED", "$6")}
     RETURNING s.consecutive_failures, s.quarantined, b.quarantined AS was`,
    [app, at, JSON.stringify(error), threshold, probeInMs, startedAt]);
  const r = rows[0];
  if (!r) return { failures: 0, quarantined: false, stale: true };
  return { failures: r.consecutive_failures, quarantined: r.quarantined ? (r.was ? "already" : "now") : false };
}

/**
 * An authentication failure: the app is quarantined as auth-failing at once (an outage quarantine turns
 * into one). "now" for exactly one caller per episode.
 */
export async function recordAuthFailure(q: Q, app: string, error: object, at: Date, startedAt: Date, probeInMs: number): Promise<"now" | "already" | "stale"> {
  const { rows } = await q.query(
    `UPDATE app_state s SET consecutive_failures = s.consecutive_failures + 1, failing_since = coalesce(s.failing_since, $2),
            last_failure_at = $2, last_error = $3::jsonb, updated_at = $2, quarantined = true, quarantine_kind = 'auth',
            quarantined_since = CASE WHEN s.quarantined THEN s.quarantined_since ELSE $2 END,
            probe_at = CASE WHEN s.quarantined THEN s.probe_at ELSE $2::timestamptz + $4 * interval '1 millisecond' END,
            probe_count = CASE WHEN s.quarantined THEN s.probe_count ELSE 0 END
       FROM ${BEFORE} WHERE s.app = $1 AND ${FRESH.replace("$STARTED", "$5")}
     RETURNING b.quarantine_kind AS was`,
    [app, at, JSON.stringify(error), probeInMs, startedAt]);
  if (!rows[0]) return "stale";
  return rows[0].was === "auth" ? "already" : "now";
}

/**
 * A request succeeded: the failure streak ends (written only when there was one) and a quarantine is
 * released — unless the request began before the quarantine did. Returns the released quarantine's kind,
 * "streak" when only a failure streak ended, null when nothing changed.
 */
export async function recordSuccess(q: Q, app: string, at: Date, startedAt: Date): Promise<"outage" | "auth" | "streak" | null> {
  const { rows } = await q.query(
    `UPDATE app_state s SET consecutive_failures = 0, failing_since = NULL, last_success_at = greatest(s.last_success_at, $2), last_error = NULL,
            updated_at = $2, quarantined = false, quarantine_kind = NULL, quarantined_since = NULL, probe_at = NULL, probe_count = 0,
            released_at = CASE WHEN s.quarantined THEN $2 ELSE s.released_at END
       FROM ${BEFORE} WHERE s.app = $1 AND (s.consecutive_failures > 0 OR s.quarantined OR s.last_error IS NOT NULL)
        AND (NOT s.quarantined OR s.quarantined_since <= $3)
     RETURNING b.quarantined AS was, b.quarantine_kind AS kind, b.consecutive_failures AS failures`,
    [app, at, startedAt]);
  const r = rows[0];
  if (!r) return null;
  return r.was ? (r.kind ?? "outage") : r.failures > 0 ? "streak" : null;
}

/** The app asked us to wait (429/503 Retry-After): no process sends before `until`. */
export async function pauseApp(q: Q, app: string, until: Date): Promise<void> {
  await q.query(`UPDATE app_state SET paused_until = greatest(coalesce(paused_until, $2), $2) WHERE app = $1`, [app, until]);
}

/**
 * Claims a due probe (probe_at <= at), pushing probe_at past `holdMs` so concurrent probers (the probe job,
 * `apps test`, another process) do not probe at once. Null: not quarantined, or not due (then `probeAt`).
 */
export async function claimProbe(q: Q, app: string, at: Date, holdMs: number): Promise<{ claimed: boolean; probeAt: Date | null; quarantined: boolean }> {
  const { rows } = await q.query(
    `WITH c AS (
       UPDATE app_state SET probe_at = $2::timestamptz + $3 * interval '1 millisecond'
        WHERE app = $1 AND quarantined AND (probe_at IS NULL OR probe_at <= $2) RETURNING app)
     SELECT (SELECT count(*) FROM c) > 0 AS claimed, s.probe_at, s.quarantined FROM app_state s WHERE s.app = $1`, [app, at, holdMs]);
  const r = rows[0];
  return r ? { claimed: r.claimed, probeAt: r.probe_at, quarantined: r.quarantined } : { claimed: false, probeAt: null, quarantined: false };
}

/**
 * A probe failed: the next one after a longer interval, `baseMs` doubling per failed probe up to `maxMs`
 * (on the caller's clock). An auth failure turns the quarantine into auth-failing (`becameAuthFailing`).
 */
export async function deferProbe(q: Q, app: string, at: Date, baseMs: number, maxMs: number, error: object, auth: boolean): Promise<{ probeAt: Date; becameAuthFailing: boolean }> {
  const { rows } = await q.query(
    `UPDATE app_state s SET probe_count = s.probe_count + 1, last_failure_at = $2, last_error = $5::jsonb, updated_at = $2,
            quarantine_kind = CASE WHEN $6::boolean THEN 'auth' ELSE s.quarantine_kind END,
            probe_at = $2::timestamptz + least($4, $3 * power(2, s.probe_count + 1)) * interval '1 millisecond'
       FROM ${BEFORE} WHERE s.app = $1 AND s.quarantined RETURNING s.probe_at, b.quarantine_kind AS was`, [app, at, baseMs, maxMs, JSON.stringify(error), auth]);
  return { probeAt: rows[0]?.probe_at ?? new Date(at.getTime() + baseMs), becameAuthFailing: auth && rows[0] !== undefined && rows[0].was !== "auth" };
}

export async function setDisabled(q: Q, app: string, disabled: boolean, reason: string | null, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO app_state (app, disabled, disabled_reason, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (app) DO UPDATE SET disabled = $2, disabled_reason = $3, updated_at = $4`, [app, disabled, disabled ? reason : null, at]);
}
