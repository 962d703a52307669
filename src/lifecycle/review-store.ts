// SQL for the review queue and for leavers held by the mass-deprovision guard. A partial unique index keeps
// one *pending* review per subject (dedupe_key): a privileged grant is asked once per user and group, every
// held leaver of one HR source joins the same open mass-deprovision item, and a user has one data-quality item.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export type ReviewKind =
  | "privileged-grant" | "mover" | "contractor-without-end-date" | "service-account-without-owner"
  | "owner-left" | "owner-moved" | "mass-deprovision" | "data-quality";
export type ReviewStatus = "pending" | "approved" | "denied" | "cancelled";
export const REVIEW_KINDS: readonly ReviewKind[] = [
  "privileged-grant", "mover", "contractor-without-end-date", "service-account-without-owner", "owner-left", "owner-moved", "mass-deprovision",
  "data-quality",
];
export const REVIEW_STATUSES: readonly ReviewStatus[] = ["pending", "approved", "denied", "cancelled"];

export interface ReviewRow {
  id: string; kind: ReviewKind; status: ReviewStatus; userId: string | null; group: string | null; owner: string | null;
  source: string | null; payload: Record<string, unknown>; reason: string | null; decidedBy: string | null;
  decidedAt: Date | null; createdAt: Date;
}

const COLS = `id, kind, status, user_id, group_name, owner, source, payload, reason, decided_by, decided_at, created_at`;
const toRow = (r: any): ReviewRow => ({
  id: r.id, kind: r.kind, status: r.status, userId: r.user_id, group: r.group_name, owner: r.owner, source: r.source,
  payload: r.payload ?? {}, reason: r.reason, decidedBy: r.decided_by, decidedAt: r.decided_at, createdAt: r.created_at,
});

export interface ReviewRequestInput {
  kind: ReviewKind; userId?: string | null; group?: string | null; owner?: string | null; source?: string | null;
  payload: Record<string, unknown>;
  /** true: an existing pending item takes this payload (the guard's latest figures) and owner, if any; false: left as it is */
  refresh?: boolean;
}

export const dedupeKey = (r: Pick<ReviewRequestInput, "kind" | "userId" | "group" | "source">) =>
  r.kind === "mass-deprovision" ? `mass-deprovision:${r.source ?? ""}` : `${r.kind}:${r.userId ?? ""}:${r.group ?? ""}`;

/** Opens a review unless one is pending for the same subject; `created` says which. */
export async function requestReview(q: Q, r: ReviewRequestInput, at: Date): Promise<{ id: string; created: boolean }> {
  // xmax = 0 only on a freshly inserted tuple: the usual way to tell an upsert's insert from its update.
  const { rows } = await q.query(
    `INSERT INTO review (kind, user_id, group_name, owner, source, dedupe_key, payload, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (dedupe_key) WHERE status = 'pending'
     DO UPDATE SET payload = CASE WHEN $9 THEN review.payload || EXCLUDED.payload ELSE review.payload END,
       owner = CASE WHEN $9 THEN coalesce(EXCLUDED.owner, review.owner) ELSE review.owner END
     RETURNING id, (xmax = 0) AS created`,
    [r.kind, r.userId ?? null, r.group ?? null, r.owner ?? null, r.source ?? null, dedupeKey(r), JSON.stringify(r.payload), at, r.refresh ?? false]);
  return { id: rows[0].id, created: rows[0].created };
}

export async function findReview(q: Q, id: string, opts: { lock?: boolean } = {}): Promise<ReviewRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await q.query(`SELECT ${COLS} FROM review WHERE id = $1${opts.lock ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] ? toRow(rows[0]) : null;
}

export async function listReviews(q: Q, f: { status?: ReviewStatus; kind?: ReviewKind; userId?: string; limit: number }): Promise<ReviewRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.status) { params.push(f.status); where.push(`status = $${params.length}`); }
  if (f.kind) { params.push(f.kind); where.push(`kind = $${params.length}`); }
  if (f.userId) { params.push(f.userId); where.push(`user_id = $${params.length}`); }
  params.push(f.limit);
  const { rows } = await q.query(
    `SELECT ${COLS} FROM review ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id LIMIT $${params.length}`, params);
  return rows.map(toRow);
}

export async function decideReview(q: Q, id: string, status: Exclude<ReviewStatus, "pending">, by: string, reason: string, at: Date, payload?: Record<string, unknown>): Promise<ReviewRow> {
  const { rows } = await q.query(
    `UPDATE review SET status = $2, decided_by = $3, reason = $4, decided_at = $5, payload = payload || $6::jsonb
     WHERE id = $1 RETURNING ${COLS}`, [id, status, by, reason, at, JSON.stringify(payload ?? {})]);
  return toRow(rows[0]);
}

/** Closes a leaver's pending reviews about its own access (nothing is left to grant or confirm). */
export async function cancelUserReviews(q: Q, userId: string, reason: string, at: Date): Promise<ReviewRow[]> {
  const { rows } = await q.query(
    `UPDATE review SET status = 'cancelled', decided_by = 'lifecycle', reason = $2, decided_at = $3
     WHERE user_id = $1 AND status = 'pending' AND kind IN ('privileged-grant', 'mover', 'contractor-without-end-date')
     RETURNING ${COLS}`, [userId, reason, at]);
  return rows.map(toRow);
}

// ---- held leavers ---------------------------------------------------------------------------------------
export type HeldOutcome = "released" | "rejected" | "superseded";
export interface HeldLeaverRow {
  reviewId: string; userId: string; userName: string; changeId: number | null; details: Record<string, unknown> | null;
  heldAt: Date; outcome: HeldOutcome | null; outcomeAt: Date | null;
}
const toHeld = (r: any): HeldLeaverRow => ({
  reviewId: r.review_id, userId: r.user_id, userName: r.user_name, changeId: r.change_id === null ? null : Number(r.change_id),
  details: r.details, heldAt: r.held_at, outcome: r.outcome, outcomeAt: r.outcome_at,
});

export async function insertHeld(q: Q, h: Omit<HeldLeaverRow, "outcome" | "outcomeAt">): Promise<void> {
  await q.query(
    `INSERT INTO held_leaver (review_id, user_id, user_name, change_id, details, held_at) VALUES ($1,$2,$3,$4,$5,$6)
     ON CONFLICT (review_id, user_id) DO UPDATE SET change_id = EXCLUDED.change_id, details = EXCLUDED.details, outcome = NULL, outcome_at = NULL`,
    [h.reviewId, h.userId, h.userName, h.changeId, h.details ? JSON.stringify(h.details) : null, h.heldAt]);
}

export async function heldOf(q: Q, reviewIds: string[]): Promise<HeldLeaverRow[]> {
  if (!reviewIds.length) return [];
  const { rows } = await q.query(
    `SELECT review_id, user_id, user_name, change_id, details, held_at, outcome, outcome_at FROM held_leaver
     WHERE review_id = ANY($1::uuid[]) ORDER BY held_at, user_name`, [reviewIds]);
  return rows.map(toHeld);
}

export async function setHeldOutcome(q: Q, reviewId: string, userIds: string[], outcome: HeldOutcome, at: Date): Promise<void> {
  if (!userIds.length) return;
  await q.query(`UPDATE held_leaver SET outcome = $3, outcome_at = $4 WHERE review_id = $1 AND user_id = ANY($2::uuid[])`, [reviewId, userIds, outcome, at]);
}

/** HR brought a held leaver back before anyone decided: the hold no longer applies to them. */
export async function supersedeHolds(q: Q, userId: string, at: Date): Promise<string[]> {
  const { rows } = await q.query(
    `UPDATE held_leaver SET outcome = 'superseded', outcome_at = $2 WHERE user_id = $1 AND outcome IS NULL
     RETURNING review_id`, [userId, at]);
  return rows.map((r) => r.review_id as string);
}

/** Batched requestReview for policy applies: opens those not already pending; returns the created ones. */
export async function requestReviews(q: Q, list: readonly ReviewRequestInput[], at: Date): Promise<Array<{ id: string; key: string }>> {
  if (!list.length) return [];
  const { rows } = await q.query(
    `INSERT INTO review (kind, user_id, group_name, owner, source, dedupe_key, payload, created_at)
     SELECT r.kind, r.user_id, r.group_name, r.owner, r.source, r.dedupe_key, r.payload::jsonb, $8
       FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
            AS r(kind, user_id, group_name, owner, source, dedupe_key, payload)
     ON CONFLICT (dedupe_key) WHERE status = 'pending' DO NOTHING
     RETURNING id, dedupe_key`,
    [list.map((r) => r.kind), list.map((r) => r.userId ?? null), list.map((r) => r.group ?? null), list.map((r) => r.owner ?? null),
      list.map((r) => r.source ?? null), list.map(dedupeKey), list.map((r) => JSON.stringify(r.payload)), at]);
  return rows.map((r) => ({ id: r.id, key: r.dedupe_key }));
}
