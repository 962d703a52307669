// The mass-deprovision guard around the pure decision (guard.ts): count in SQL, decide, and park the leaver
// in the source's one open review when held. Counting and deciding run under a per-source advisory lock,
// so two leavers of the same source committing at once cannot both see "one below the limit".
//
// What is counted, for HR source S and window W ending now (lifecycle_event.created_at and the broker clock):
//   leavers in window  = leaver events of S in W, applied and held alike (partial index on (source, created_at));
//   population         = users of S active now (partial index (source) WHERE active; an index-only count)
//                        + users of S that left in W and are not active now + the candidate itself.
// A leaver event is recorded for the candidate right after this check, held or not, so it counts for the next.
// The window has no upper bound on purpose: each request reads the clock before it queues for the lock, so a
// leaver that took the lock (and committed) first may carry a later instant than this one — it still counts.
import type pg from "pg";
import { massDeprovisionDecision, type MassDeprovisionConfig, type MassDeprovisionDecision } from "../domain/mass-deprovision-guard.ts";
import { insertHeld, requestReview } from "./review-store.ts";
import type { AuditTrail } from "./audit-trail.ts";
import type { UserRow } from "../store/rows.ts";

type Q = Pick<pg.PoolClient, "query">;

export async function checkMassDeprovision(tx: Q, config: MassDeprovisionConfig, user: UserRow, now: Date): Promise<MassDeprovisionDecision> {
  const since = new Date(now.getTime() - config.windowMs);
  // One round trip: the migration's broker_guard_counts() takes the source's advisory lock (LOCKS.guardNs),
  // then counts with snapshots taken after the lock was granted (see the migration).
  const { rows } = await tx.query({ name: "guard_counts", text: `SELECT leavers, active_others, left_others FROM broker_guard_counts($1, $2, $3)`,
    values: [user.source, since, user.id] });
  const r = rows[0];
  return massDeprovisionDecision({
    leaversInWindow: Number(r.leavers),
    populationActive: Number(r.active_others) + 1, // the candidate, whatever its stored `active` says
    leftInWindow: Number(r.left_others),
    config,
  });
}

/** Parks a leaver in the open mass-deprovision review of its source (created on the first hold). */
export async function holdLeaver(
  tx: Q, h: { user: UserRow; decision: Extract<MassDeprovisionDecision, { hold: true }>; changeId: number | null; reason: string; now: Date; audit: AuditTrail },
): Promise<string> {
  const { user, decision, now } = h;
  const review = await requestReview(tx, {
    kind: "mass-deprovision", source: user.source, refresh: true,
    payload: { limit: decision.limit, reason: decision.reason, count: decision.count, population: decision.population, source: user.source },
  }, now);
  await insertHeld(tx, { reviewId: review.id, userId: user.id, userName: user.userName, changeId: h.changeId, details: { reason: h.reason, decision: decision.reason }, heldAt: now });
  if (review.created) h.audit.add("review.created", { cause: { reviewId: review.id }, details: { kind: "mass-deprovision", source: user.source, reason: decision.reason } });
  h.audit.add("guard.held", { userId: user.id, cause: { reviewId: review.id }, details: { source: user.source, leaver: h.reason, decision: decision.reason, limit: decision.limit } });
  return review.id;
}
