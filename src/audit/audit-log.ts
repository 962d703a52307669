// The audit log's write side: every entitlement change is appended here, with its cause, inside the same
// transaction as the change itself (house principle 3), so the log never shows a change that was rolled
// back nor misses one that committed. Appends take no lock and compute no hash: at ~1,000 writes/s a
// chain extended by each writer would serialise every write transaction on the chain's tip. The sealer
// (sealAudit in audit-store.ts) chains committed rows afterwards, in seq order.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export const AUDIT_KINDS = [
  "membership.added", "membership.removed",
  "account.created", "account.disabled", "account.enabled", "account.deleted",
  "app.assignment.changed", "app.deprovisioned",
  "exception.created", "exception.expired", "exception.revoked",
  "review.created", "review.decided",
  "policy.applied", "lifecycle.event", "guard.held", "guard.released",
  "ssf.set.issued", "ssf.set.received", // src/ssf: a SET written for a stream; a SET received from a trusted issuer
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];
const KIND_SET: ReadonlySet<string> = new Set(AUDIT_KINDS);
export const isAuditKind = (s: string): s is AuditKind => KIND_SET.has(s);

/** Why an entitlement changed: the HR change, the rule and policy version, the exception or review, the actor. */
export interface AuditCause {
  changeId?: number; // change_record.id of the HR/IdP write that started it
  rule?: string;
  policyVersion?: string;
  exceptionId?: string;
  reviewId?: string;
  tokenId?: string; // api_token.id of the caller
  actor?: string; // a person or process name when there is no token (CLI user, scheduler)
}

export interface AuditInput {
  kind: AuditKind;
  userId?: string;
  groupName?: string;
  app?: string;
  cause: AuditCause;
  details?: Record<string, unknown>;
}

/** A stored event as the read side returns it (plain object; chain fields are null until sealed). */
export interface AuditEvent {
  seq: number;
  at: Date;
  kind: AuditKind;
  userId: string | null;
  groupName: string | null;
  app: string | null;
  cause: AuditCause;
  details: Record<string, unknown> | null;
  chainIndex: number | null;
  prevHash: string | null;
  hash: string | null;
}

// JSON text without undefined members; PostgreSQL rejects \u0000 in jsonb, so it would fail the caller's
// whole transaction over a log detail — replace it instead.
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "string" ? x.replaceAll("\0", "\uFFFD") : x));

/**
 * Appends events in ONE statement (one round trip however many events), in the given order: seq follows
 * the array order, so "membership.removed" then "membership.added" read in that order later.
 * `q` is the caller's transaction client (or the pool, for an append on its own).
 */
export async function appendAudit(q: Q, inputs: readonly AuditInput[], at: Date): Promise<void> {
  if (inputs.length === 0) return;
  const { sql, params } = auditInsert(inputs, at, 1);
  await q.query(sql, params);
}

/**
 * The INSERT of appendAudit as SQL + parameters numbered from `first`, so a writer can put it in a
 * data-modifying CTE of a statement it sends anyway (one round trip less on the HR write path).
 */
export function auditInsert(inputs: readonly AuditInput[], at: Date, first: number): { sql: string; params: unknown[] } {
  for (const i of inputs) {
    // A programming error, not bad input: fail loudly rather than log an event nobody can filter for.
    if (!isAuditKind(i.kind)) throw new TypeError(`unknown audit kind '${String(i.kind)}'`);
  }
  const $ = (n: number) => `$${first + n}`;
  // seq and txid come from the column defaults (audit_next_seq(), pg_current_xact_id()); ORDER BY ord
  // makes the defaults run in array order.
  return {
    sql: `INSERT INTO audit_event (occurred_at, kind, user_id, group_name, app, cause, details)
     SELECT ${$(0)}::timestamptz, e.kind, e.user_id, e.group_name, e.app, e.cause::jsonb, e.details::jsonb
       FROM unnest(${$(1)}::text[], ${$(2)}::text[], ${$(3)}::text[], ${$(4)}::text[], ${$(5)}::text[], ${$(6)}::text[])
            WITH ORDINALITY AS e(kind, user_id, group_name, app, cause, details, ord)
      ORDER BY e.ord`,
    params: [at,
      inputs.map((i) => i.kind),
      inputs.map((i) => i.userId ?? null),
      inputs.map((i) => i.groupName ?? null),
      inputs.map((i) => i.app ?? null),
      inputs.map((i) => json(i.cause ?? {})),
      inputs.map((i) => (i.details === undefined ? null : json(i.details)))],
  };
}
