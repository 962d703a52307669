// ssf_set rows: the SETs owed to each stream (the outbox), their signatures once made, and their fate —
// delivered (push, RFC 8935 §2.2 202), acknowledged (poll, RFC 8936 §2.4), failed (a push the receiver
// refused for good, RFC 8935 §2.3) or expired (not acknowledged within the SET time-to-live).
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface SetRow { id: number; streamId: string; jti: string; userId: string | null; eventType: string; claims: Record<string, unknown>; jws: string | null; priority: number; createdAt: Date }

const toSet = (r: any): SetRow => ({ id: Number(r.id), streamId: r.stream_id, jti: r.jti, userId: r.user_id, eventType: r.event_type, claims: r.claims, jws: r.jws, priority: r.priority, createdAt: r.created_at });

export interface NewSet { streamId: string; jti: string; userId: string | null; eventType: string; claims: Record<string, unknown>; priority: number }

/** One statement for every SET of a change (all streams, all events). */
export async function insertSets(q: Q, sets: readonly NewSet[], at: Date): Promise<void> {
  if (!sets.length) return;
  const { sql, params } = insertSetsSql(sets, at, 1);
  await q.query(sql, params);
}

/** The INSERT of insertSets with parameters numbered from `first`, for a data-modifying CTE (outbox-repository.ts). */
export function insertSetsSql(sets: readonly NewSet[], at: Date, first: number): { sql: string; params: unknown[] } {
  const $ = (n: number) => `$${first + n}`;
  return {
    sql: `INSERT INTO ssf_set (stream_id, jti, user_id, event_type, claims, priority, created_at)
     SELECT s, j, u, e, c::jsonb, p, ${$(6)}::timestamptz FROM unnest(${$(0)}::uuid[], ${$(1)}::text[], ${$(2)}::uuid[], ${$(3)}::text[], ${$(4)}::text[], ${$(5)}::int[]) AS t(s, j, u, e, c, p)`,
    params: [sets.map((s) => s.streamId), sets.map((s) => s.jti), sets.map((s) => s.userId), sets.map((s) => s.eventType),
      sets.map((s) => JSON.stringify(s.claims)), sets.map((s) => s.priority), at],
  };
}

/**
 * A user's claims-change SETs written earlier in THIS transaction (pg_current_xact_id()), so the group
 * changes of one HR write join its department change in one token-claims-change instead of one per group.
 */
export async function thisTransactionSets(q: Q, userId: string): Promise<Array<{ id: number; eventType: string; claims: Record<string, unknown> }>> {
  const { rows } = await q.query(`SELECT id, event_type, claims FROM ssf_set WHERE user_id = $1 AND txid = pg_current_xact_id()`, [userId]);
  return rows.map((r) => ({ id: Number(r.id), eventType: r.event_type, claims: r.claims }));
}

export async function replaceClaims(q: Q, id: number, claims: Record<string, unknown>): Promise<void> {
  await q.query(`UPDATE ssf_set SET claims = $2 WHERE id = $1`, [id, JSON.stringify(claims)]);
}

/** The next SETs owed to a stream: leavers' first (priority), then in the order they were issued. */
export async function pendingSets(q: Q, streamId: string, limit: number, notBefore: Date): Promise<SetRow[]> {
  const { rows } = await q.query(
    `SELECT * FROM ssf_set WHERE stream_id = $1 AND state = 'pending' AND created_at >= $3 ORDER BY priority, id LIMIT $2`, [streamId, limit, notBefore]);
  return rows.map(toSet);
}

export async function saveJws(q: Q, id: number, jws: string): Promise<void> {
  await q.query(`UPDATE ssf_set SET jws = $2 WHERE id = $1 AND jws IS NULL`, [id, jws]);
}

/** RFC 8936 §2.4: the receiver acknowledged these jtis; returns how many of the stream's it knew. */
export async function acknowledge(q: Q, streamId: string, jtis: readonly string[], state: "acked" | "failed", at: Date, errors?: Record<string, string>): Promise<number> {
  if (!jtis.length) return 0;
  const { rowCount } = await q.query(
    `UPDATE ssf_set SET state = $3, delivered_at = $4, error = ($5::jsonb ->> jti) WHERE stream_id = $1 AND jti = ANY($2::text[]) AND state = 'pending'`,
    [streamId, jtis, state, at, JSON.stringify(errors ?? {})]);
  return rowCount ?? 0;
}

/** SETs not delivered nor acknowledged within the time-to-live expire (RFC 8936 §2.4). */
export async function expire(q: Q, before: Date): Promise<number> {
  const { rowCount } = await q.query(`UPDATE ssf_set SET state = 'expired' WHERE state = 'pending' AND created_at < $1`, [before]);
  return rowCount ?? 0;
}
