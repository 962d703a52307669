// The lifecycle events the admin API and the console's Events page list: newest first, by user and by
// kind, paged by id. A read model of the admin layer over lifecycle_event (written by src/lifecycle).
import type pg from "pg";
import type { LifecycleEventRow } from "../lifecycle/event-store.ts";

/** The kinds of lifecycle event (domain/classify.ts LifecycleEvent). */
export const EVENT_KINDS = ["joiner", "prehire", "mover", "conversion", "leaver", "leave", "return", "rehire", "review"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface EventQuery { userId?: string; kinds?: readonly string[]; limit: number; before?: number }

export async function queryEvents(pool: pg.Pool, f: EventQuery): Promise<LifecycleEventRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.userId) { params.push(f.userId); where.push(`user_id = $${params.length}`); }
  if (f.kinds?.length) { params.push(f.kinds); where.push(`kind = ANY($${params.length}::text[])`); }
  if (f.before) { params.push(f.before); where.push(`id < $${params.length}`); }
  params.push(f.limit);
  const { rows } = await pool.query(
    `SELECT id, user_id, kind, details, change_id, source, cause, held, created_at FROM lifecycle_event
     ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT $${params.length}`, params);
  return rows.map((r) => ({
    id: Number(r.id), userId: r.user_id, kind: r.kind, details: r.details, changeId: r.change_id === null ? null : Number(r.change_id),
    source: r.source, cause: r.cause, held: r.held, createdAt: r.created_at,
  }));
}
