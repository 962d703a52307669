// SQL for lifecycle_event (what happened to whom, and why) and lifecycle_state (per user: the status last
// applied and the next start/end instant for the sweep). Both are keyed by user, so the work per HR event
// is a few index look-ups, never a scan of the population.
import type pg from "pg";
import { writeBehind } from "../store/database.ts";
import { auditInsert, type AuditInput } from "../audit/audit-log.ts";
import { holdFromRow, type HoldRow } from "./data-quality-store.ts";

type Q = Pick<pg.PoolClient, "query">;

export type LifecycleTrigger = "hr" | "schedule" | "exception" | "review" | "guard-release" | "policy";

export interface EventInput {
  userId: string; kind: string; details: Record<string, unknown> | null; changeId: number | null;
  source: string | null; cause: LifecycleTrigger; held?: boolean;
}

export interface LifecycleEventRow {
  id: number; userId: string; kind: string; details: Record<string, unknown> | null; changeId: number | null;
  source: string | null; cause: string; held: boolean; createdAt: Date;
}

/** One user's transition: its events, and its state row set (put), deleted, or left as it is (keep). */
export interface Transition { userId: string; events: readonly EventInput[]; state: LifecycleState | "delete" | "keep" }

/**
 * Records a user's events and sets (or deletes, or leaves) its state row, in one statement: the HR write
 * path pays one round trip for both.
 */
export async function recordTransition(q: Q, userId: string, events: readonly EventInput[], state: LifecycleState | "delete" | "keep", at: Date, audit: readonly AuditInput[] = []): Promise<void> {
  await recordTransitions(q, [{ userId, events, state }], at, audit);
}

/**
 * recordTransition for many users in one statement (a batch of creates, lifecycle-batch.ts): the events in
 * the order given, each user's state row, and the audit rows.
 */
export async function recordTransitions(q: Q, transitions: readonly Transition[], at: Date, audit: readonly AuditInput[] = []): Promise<void> {
  const events = transitions.flatMap((t) => t.events);
  const put = transitions.filter((t) => typeof t.state === "object");
  const deleted = transitions.filter((t) => t.state === "delete").map((t) => t.userId);
  // The audit rows ride in the same statement (one round trip per HR event for events, state and audit).
  const au = audit.length ? auditInsert(audit, at, 13) : null;
  // Named (prepared once per connection): the text depends only on whether audit rows ride along, and the
  // statement is on every HR write — PostgreSQL, on the same 2 cores, then neither parses nor plans it again.
  // Write-behind (store/database.ts): nothing in the transaction reads its answer, so its COMMIT need not wait for it.
  await writeBehind(q, { name: au ? "lifecycle_transitions_audit" : "lifecycle_transitions", text:
    `WITH ev AS (
       INSERT INTO lifecycle_event (user_id, kind, details, change_id, source, cause, held, created_at)
       SELECT e.user_id, e.kind, e.details::jsonb, e.change_id, e.source, e.cause, e.held, $8
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::boolean[])
              WITH ORDINALITY AS e(user_id, kind, details, change_id, source, cause, held, ord)
        ORDER BY e.ord RETURNING 1),
     st AS (
       INSERT INTO lifecycle_state (user_id, status, next_at, updated_at)
       SELECT s.user_id, s.status, s.next_at, $8 FROM unnest($9::uuid[], $10::text[], $11::timestamptz[]) AS s(user_id, status, next_at)
       ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, next_at = EXCLUDED.next_at, updated_at = EXCLUDED.updated_at
       RETURNING 1),
     del AS (DELETE FROM lifecycle_state WHERE user_id = ANY($12::uuid[]) RETURNING 1)${au ? `,
     au AS (${au.sql} RETURNING 1)` : ""}
     SELECT 1`,
    values: [events.map((e) => e.userId), events.map((e) => e.kind), events.map((e) => (e.details ? JSON.stringify(e.details) : null)),
      events.map((e) => e.changeId), events.map((e) => e.source), events.map((e) => e.cause), events.map((e) => e.held ?? false), at,
      put.map((t) => t.userId), put.map((t) => (t.state as LifecycleState).status), put.map((t) => (t.state as LifecycleState).nextAt),
      deleted, ...(au ? au.params : [])] });
}

/** Newest first, paged by id; by user and by kind when asked. */
export async function listEvents(q: Q, f: { userId?: string; kinds?: readonly string[]; limit: number; before?: number }): Promise<LifecycleEventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.userId) { params.push(f.userId); where.push(`user_id = $${params.length}`); }
  if (f.kinds?.length) { params.push(f.kinds); where.push(`kind = ANY($${params.length}::text[])`); }
  if (f.before) { params.push(f.before); where.push(`id < $${params.length}`); }
  params.push(f.limit);
  const { rows } = await q.query(
    `SELECT id, user_id, kind, details, change_id, source, cause, held, created_at FROM lifecycle_event
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT $${params.length}`, params);
  return rows.map((r) => ({
    id: Number(r.id), userId: r.user_id, kind: r.kind, details: r.details, changeId: r.change_id === null ? null : Number(r.change_id),
    source: r.source, cause: r.cause, held: r.held, createdAt: r.created_at,
  }));
}

/** held: a leaver parked by the guard; kept: its hold was rejected (entitlements stay until HR changes it). */
export type StateStatus = "active" | "prehire" | "leave" | "leaver" | "held" | "kept" | "unknown";
export interface LifecycleState { status: StateStatus; nextAt: Date | null }

/** A user's state row with the data-quality shield's hold on it (if any). */
export interface StoredState extends LifecycleState { hold: HoldRow | null }

/** The state row and, in the same round trip, the data-quality shield's hold on the user (if any). */
export async function getState(q: Q, userId: string): Promise<StoredState | null> {
  const { rows } = await q.query(
    `SELECT s.status, s.next_at, h.user_id, h.review_id, h.holds, h.state, h.held_data, h.held_at
       FROM (SELECT $1::uuid AS id) k LEFT JOIN lifecycle_state s ON s.user_id = k.id LEFT JOIN data_quality_hold h ON h.user_id = k.id`, [userId]);
  const r = rows[0];
  const hold = r?.review_id ? holdFromRow(r) : null;
  if (!r || (r.status === null && !hold)) return null;
  return { status: r.status ?? "unknown", nextAt: r.next_at, hold };
}

export async function setStatus(q: Q, userIds: string[], status: StateStatus, at: Date): Promise<void> {
  if (!userIds.length) return;
  await q.query(`UPDATE lifecycle_state SET status = $2, updated_at = $3 WHERE user_id = ANY($1::uuid[])`, [userIds, status, at]);
}

export async function deleteState(q: Q, userId: string): Promise<void> {
  await q.query(`DELETE FROM lifecycle_state WHERE user_id = $1`, [userId]);
}

/** Users whose scheduled instant has come (partial index on next_at). */
export async function dueStates(q: Q, now: Date, limit: number): Promise<Array<{ userId: string; nextAt: Date }>> {
  const { rows } = await q.query(
    `SELECT user_id, next_at FROM lifecycle_state WHERE next_at IS NOT NULL AND next_at <= $1 ORDER BY next_at, user_id LIMIT $2`, [now, limit]);
  return rows.map((r) => ({ userId: r.user_id, nextAt: r.next_at }));
}

/** Of these users, those whose leaver is held or whose hold was rejected: their entitlements do not move. */
export async function frozenUsers(q: Q, userIds: string[]): Promise<Set<string>> {
  if (!userIds.length) return new Set();
  const { rows } = await q.query(`SELECT user_id FROM lifecycle_state WHERE user_id = ANY($1::uuid[]) AND status IN ('held', 'kept')`, [userIds]);
  return new Set(rows.map((r) => r.user_id as string));
}
