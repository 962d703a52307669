// What one run of the push task (push-task.ts) reads and writes, each in ONE statement: a stream's push
// costs a job fetch, this read, the POSTs, this write and the job's completion — the round trips and
// commits per stream are what a leaver's SETs wait for when 20 receivers are owed at once (docs/ssf.md,
// "Latency").
import type pg from "pg";
import { toStream, type StreamRow } from "./stream-repository.ts";
import type { SetRow } from "./set-repository.ts";

type Q = Pick<pg.PoolClient, "query">;

/** The stream, the kid of the key that signs now, and the SETs owed (leavers' first, then issue order). */
export interface PushWork { stream: StreamRow; activeKid: string | null; sets: SetRow[] }

/**
 * One statement: the stream row, the active key's kid (so the task's cached key is checked against the
 * database on every run, never trusted blindly after a rotation), and up to `limit` pending SETs — only
 * for an enabled stream (a paused one keeps its SETs, SSF §8.1.2).
 */
export async function pushWork(q: Q, streamId: string, limit: number, notBefore: Date): Promise<PushWork | null> {
  const { rows } = await q.query(
    `SELECT s.*, (SELECT kid FROM ssf_key WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1) AS active_kid,
            p.id AS set_id, p.jti AS set_jti, p.user_id AS set_user_id, p.event_type AS set_event_type, p.claims AS set_claims,
            p.jws AS set_jws, p.priority AS set_priority, p.created_at AS set_created_at
       FROM ssf_stream s
       LEFT JOIN LATERAL (
         SELECT * FROM ssf_set x WHERE x.stream_id = s.id AND x.state = 'pending' AND x.created_at >= $3 ORDER BY x.priority, x.id LIMIT $2
       ) p ON s.status = 'enabled'
      WHERE s.id = $1
      ORDER BY p.priority, p.id`, [streamId, limit, notBefore]);
  const first = rows[0];
  if (!first) return null;
  const sets: SetRow[] = rows.filter((r) => r.set_id !== null).map((r) => ({
    id: Number(r.set_id), streamId, jti: r.set_jti, userId: r.set_user_id, eventType: r.set_event_type, claims: r.set_claims,
    jws: r.set_jws, priority: r.set_priority, createdAt: r.set_created_at,
  }));
  return { stream: toStream(first), activeKid: first.active_kid ?? null, sets };
}

/** A SET's fate after a POST: delivered (2xx) or failed for good (RFC 8935 §2.4 error); with the JWS sent. */
export interface PushOutcome { id: number; state: "delivered" | "failed"; jws: string; at: Date; error?: string }

/**
 * The outcomes of one run in one UPDATE, and the stream's failure streak cleared if it had one. The JWS is
 * kept with the outcome (a SET is signed once: poll and audit read the same bytes).
 */
export async function recordOutcomes(q: Q, streamId: string, outcomes: readonly PushOutcome[], clearFailures: boolean): Promise<void> {
  if (!outcomes.length && !clearFailures) return;
  await q.query(
    `WITH done AS (
       UPDATE ssf_set s SET state = u.state, jws = coalesce(s.jws, u.jws), delivered_at = u.at, error = u.error, attempts = s.attempts + 1
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS u(id, state, jws, at, error)
        WHERE s.id = u.id AND s.stream_id = $1 AND s.state = 'pending'
     )
     UPDATE ssf_stream SET failures = 0, retry_at = NULL, quarantined_at = NULL, last_error = NULL
      WHERE $7::boolean AND id = $1 AND (failures > 0 OR retry_at IS NOT NULL)`,
    [streamId, outcomes.map((o) => o.id), outcomes.map((o) => o.state), outcomes.map((o) => o.jws), outcomes.map((o) => o.at),
      outcomes.map((o) => (o.error === undefined ? null : o.error.slice(0, 500))), clearFailures]);
}

/** A POST that did not go through: the attempt is counted and the JWS kept, so the retry re-sends the same bytes. */
export async function noteAttempt(q: Q, id: number, jws: string): Promise<void> {
  await q.query(`UPDATE ssf_set SET attempts = attempts + 1, jws = coalesce(jws, $2) WHERE id = $1`, [id, jws]);
}
