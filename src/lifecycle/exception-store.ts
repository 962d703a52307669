// SQL for membership_exception, the exceptions register. An exception is open until it is revoked or the
// sweep marks it expired; whether an open one is *in force* at an instant is evaluate.ts's isInForce, so a
// late sweep never lets an expired exception count.
import type pg from "pg";
import type { ExceptionKind, MembershipException } from "../rules/evaluate.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface ExceptionRow {
  id: string; userId: string; group: string; kind: ExceptionKind; reason: string; owner: string; approver: string | null;
  expiresAt: Date | null; reviewId: string | null; createdBy: string; createdAt: Date;
  revokedAt: Date | null; revokedBy: string | null; revokeReason: string | null; expiredAt: Date | null;
}

const COLS = `id, user_id, group_name, kind, reason, owner, approver, expires_at, review_id, created_by, created_at,
  revoked_at, revoked_by, revoke_reason, expired_at`;
const toRow = (r: any): ExceptionRow => ({
  id: r.id, userId: r.user_id, group: r.group_name, kind: r.kind, reason: r.reason, owner: r.owner, approver: r.approver,
  expiresAt: r.expires_at, reviewId: r.review_id, createdBy: r.created_by, createdAt: r.created_at,
  revokedAt: r.revoked_at, revokedBy: r.revoked_by, revokeReason: r.revoke_reason, expiredAt: r.expired_at,
});
const OPEN = `revoked_at IS NULL AND expired_at IS NULL`;

export const asEngineException = (e: ExceptionRow): MembershipException => ({ id: e.id, userId: e.userId, group: e.group, kind: e.kind, expiresAt: e.expiresAt });

export interface NewException {
  userId: string; group: string; kind: ExceptionKind; reason: string; owner: string; approver: string | null;
  expiresAt: Date | null; reviewId?: string | null; createdBy: string;
}

export async function insertException(q: Q, e: NewException, at: Date): Promise<ExceptionRow> {
  const { rows } = await q.query(
    `INSERT INTO membership_exception (user_id, group_name, kind, reason, owner, approver, expires_at, review_id, created_by, created_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING ${COLS}`,
    [e.userId, e.group, e.kind, e.reason, e.owner, e.approver, e.expiresAt, e.reviewId ?? null, e.createdBy, at]);
  return toRow(rows[0]);
}

export async function findException(q: Q, id: string, opts: { lock?: boolean } = {}): Promise<ExceptionRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await q.query(`SELECT ${COLS} FROM membership_exception WHERE id = $1${opts.lock ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? toRow(rows[0]) : null;
}

/** Open exceptions of some users (index on user_id), for the rules engine. */
export async function openExceptionsOf(q: Q, userIds: string[], groups?: string[]): Promise<ExceptionRow[]> {
  if (!userIds.length) return [];
  const { rows } = groups
    ? await q.query(`SELECT ${COLS} FROM membership_exception WHERE user_id = ANY($1::uuid[]) AND group_name = ANY($2::text[]) AND ${OPEN}`, [userIds, groups])
    : await q.query(`SELECT ${COLS} FROM membership_exception WHERE user_id = ANY($1::uuid[]) AND ${OPEN}`, [userIds]);
  return rows.map(toRow);
}

export async function listExceptions(q: Q, f: { userId?: string; group?: string; open?: boolean; limit: number }): Promise<ExceptionRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.userId) { params.push(f.userId); where.push(`user_id = $${params.length}`); }
  if (f.group) { params.push(f.group); where.push(`group_name = $${params.length}`); }
  if (f.open) where.push(OPEN);
  params.push(f.limit);
  const { rows } = await q.query(
    `SELECT ${COLS} FROM membership_exception ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY created_at DESC, id LIMIT $${params.length}`, params);
  return rows.map(toRow);
}

export async function revokeException(q: Q, id: string, by: string, reason: string | null, at: Date): Promise<ExceptionRow | null> {
  const { rows } = await q.query(
    `UPDATE membership_exception SET revoked_at = $2, revoked_by = $3, revoke_reason = $4 WHERE id = $1 AND ${OPEN} RETURNING ${COLS}`,
    [id, at, by, reason]);
  return rows[0] ? toRow(rows[0]) : null;
}

/** A leaver's exceptions close with them (evaluate.ts: surviving exceptions are how leavers keep access). */
export async function revokeOpenExceptionsOf(q: Q, userId: string, by: string, reason: string, at: Date): Promise<ExceptionRow[]> {
  const { rows } = await q.query(
    `UPDATE membership_exception SET revoked_at = $2, revoked_by = $3, revoke_reason = $4 WHERE user_id = $1 AND ${OPEN} RETURNING ${COLS}`,
    [userId, at, by, reason]);
  return rows.map(toRow);
}

/** Open exceptions whose expiry has passed (partial index), oldest first. */
export async function dueExpiries(q: Q, now: Date, limit: number): Promise<Array<{ id: string; userId: string }>> {
  const { rows } = await q.query(
    `SELECT id, user_id FROM membership_exception WHERE expires_at IS NOT NULL AND expires_at <= $1 AND ${OPEN}
     ORDER BY expires_at, id LIMIT $2`, [now, limit]);
  return rows.map((r) => ({ id: r.id, userId: r.user_id }));
}

export async function markExpired(q: Q, id: string, at: Date): Promise<ExceptionRow | null> {
  const { rows } = await q.query(`UPDATE membership_exception SET expired_at = $2 WHERE id = $1 AND ${OPEN} RETURNING ${COLS}`, [id, at]);
  return rows[0] ? toRow(rows[0]) : null;
}
