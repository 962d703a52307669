// SQL for dead_letter: deliveries that failed permanently, with the app's response (already scrubbed of
// secrets by AppHttpError) so an operator can see why, fix the cause, and replay. One row per (app, user or
// group): a repeated failure (after a replay, a reconcile --fix) updates it — occurrences, summed attempts,
// the last error and when — and opens it again, so one failing account is one line, not seven.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface DeadLetterInput {
  app: string;
  kind: "user" | "group";
  key: string;
  label: string | null;
  code: string;
  request: { method?: string; path?: string };
  responseStatus: number | null;
  responseBody: string | null;
  message: string;
  attempts: number;
  at: Date;
}

export interface DeadLetter extends Omit<DeadLetterInput, "at"> {
  id: number;
  /** How many times this (app, key) was dead-lettered. */
  occurrences: number;
  /** First failure. */
  createdAt: Date;
  /** Last failure. */
  updatedAt: Date;
  replayedAt: Date | null;
}

const toDeadLetter = (r: any): DeadLetter => ({
  id: Number(r.id), app: r.app, kind: r.kind, key: r.key, label: r.label, code: r.code, request: r.request,
  responseStatus: r.response_status, responseBody: r.response_body, message: r.message, attempts: r.attempts,
  occurrences: r.occurrences, createdAt: r.created_at, updatedAt: r.updated_at, replayedAt: r.replayed_at,
});

/** Dead-letters one delivery (or updates its key's row) and marks its account/group failed, releasing the lease, in one statement. */
export async function insertDeadLetter(q: Q, d: DeadLetterInput, owner: string, lastError: object): Promise<number> {
  const table = d.kind === "user" ? "app_account" : "app_group";
  const keyColumn = d.kind === "user" ? "user_id" : "group_id";
  const { rows } = await q.query(
    `WITH mark AS (
       UPDATE ${table} SET status = 'failed', last_error = $12::jsonb, attempts = $10, updated_at = $11, lease_owner = NULL, lease_until = NULL
        WHERE app = $1 AND ${keyColumn} = $3::uuid AND lease_owner = $13)
     INSERT INTO dead_letter AS d (app, kind, key, label, code, request, response_status, response_body, message, attempts, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $11)
     ON CONFLICT (app, kind, key) DO UPDATE SET label = coalesce(EXCLUDED.label, d.label), code = EXCLUDED.code, request = EXCLUDED.request,
            response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body, message = EXCLUDED.message,
            attempts = d.attempts + EXCLUDED.attempts, occurrences = d.occurrences + 1, updated_at = EXCLUDED.updated_at, replayed_at = NULL
     RETURNING id`,
    [d.app, d.kind, d.key, d.label, d.code, JSON.stringify(d.request), d.responseStatus, d.responseBody, d.message, d.attempts, d.at,
      JSON.stringify(lastError), owner]);
  return Number(rows[0].id);
}

/** Newest first; `user`: only the deliveries of this user id (every app). */
export async function listDeadLetters(q: Q, opts: { app?: string; user?: string; open?: boolean; limit?: number } = {}): Promise<DeadLetter[]> {
  const { rows } = await q.query(
    `SELECT * FROM dead_letter WHERE ($1::text IS NULL OR app = $1) AND ($4::text IS NULL OR (kind = 'user' AND key = $4))
        AND (NOT $2::boolean OR replayed_at IS NULL)
      ORDER BY updated_at DESC, id DESC LIMIT $3`, [opts.app ?? null, opts.open ?? false, opts.limit ?? 100, opts.user ?? null]);
  return rows.map(toDeadLetter);
}

/**
 * Marks open dead letters replayed (all of an app's, or the given ids) and returns them; the caller
 * re-enqueues their keys in the same transaction.
 */
export async function takeForReplay(q: Q, app: string, ids: readonly number[] | "all", at: Date): Promise<DeadLetter[]> {
  const { rows } = await q.query(
    `UPDATE dead_letter SET replayed_at = $3 WHERE app = $1 AND replayed_at IS NULL AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[]))
     RETURNING *`, [app, ids === "all" ? null : ids, at]);
  return rows.map(toDeadLetter);
}

export async function openDeadLetterCounts(q: Q): Promise<Map<string, number>> {
  const { rows } = await q.query(`SELECT app, count(*)::int AS n FROM dead_letter WHERE replayed_at IS NULL GROUP BY app`);
  return new Map(rows.map((r) => [r.app as string, r.n as number]));
}

/** Closes the user's open dead letters of the app (an operator linked its account: the next delivery retries). */
export async function closeUserDeadLetters(q: Q, app: string, userId: string, at: Date): Promise<void> {
  await q.query(`UPDATE dead_letter SET replayed_at = $3 WHERE app = $1 AND kind = 'user' AND key = $2 AND replayed_at IS NULL`, [app, userId, at]);
}
