// The receiver's use case: a verified SET from a trusted issuer becomes lifecycle input (docs/ssf.md,
// "Receiving"). The story:
//   1. a jti already recorded for this issuer is a replay: accepted, nothing done again (RFC 8417 §2.2);
//   2. the event's action comes from the issuer's entry in broker.yaml (RISC account-disabled: review by
//      default; CAEP session-revoked: record by default); events we do not act on are recorded only;
//   3. the subject is resolved to one known user (unknown or ambiguous: recorded only);
//   4. leaver: the user is deactivated through the SCIM user service, so the whole leaver path runs (source
//      authority, mass-deprovision guard, fan-out, SETs) with a change record of source "ssf"; that write is
//      idempotent (an inactive user is not changed again). If the write is refused (e.g. `active` is owned by
//      an HR source), the SET opens a review instead;
//   5. review: a data-quality review for the user, which an owner decides in the review queue;
//   6. the SET is recorded with an `ssf.set.received` audit row, in the same transaction as the review.
import type pg from "pg";
import { appendAudit, type AuditInput } from "../audit/audit-log.ts";
import type { Clock } from "../domain/clock.ts";
import type { SsfReceiveAction } from "../domain/ssf-stream-config.ts";
import { requestReview } from "../lifecycle/review-store.ts";
import type { Logger } from "../shared/logger.ts";
import { DomainError } from "../shared/errors.ts";
import { withTransaction } from "../store/database.ts";
import { EVENT } from "./event-types.ts";
import { changeIdOf, insertReceived, usersByEmail, usersByIdentifier, wasReceived, type KnownUser } from "./receiver-store.ts";
import { subjectKeys, subjectOf } from "./receiver-subject.ts";
import type { VerifiedSet } from "./receiver-verify.ts";

/** Deactivates a user as a SCIM write would (the broker hands in its user service). */
export type Deactivate = (userId: string, ctx: { tokenId: string | null; source: string; requestId: string; actor: string }) => Promise<void>;

export interface ReceiveDeps { pool: pg.Pool; clock: Clock; log: Logger; deactivate: Deactivate }
export interface Pusher { tokenId: string; name: string }

export type ReceivedOutcome =
  | { replay: true }
  | { replay: false; action: SsfReceiveAction | "ignored" | "unknown-subject"; userId: string | null; eventType: string; reviewId?: string; changeId?: number | null; note?: string };

export async function receiveSet(d: ReceiveDeps, set: VerifiedSet, pusher: Pusher, requestId: string): Promise<ReceivedOutcome> {
  const { issuer, payload } = set;
  const iss = issuer.issuer;
  if (await wasReceived(d.pool, iss, payload.jti)) return { replay: true };

  const [eventType, event] = pickEvent(payload.events);
  const wanted: SsfReceiveAction | "ignored" = eventType === EVENT.accountDisabled ? issuer.actions.accountDisabled
    : eventType === EVENT.sessionRevoked ? issuer.actions.sessionRevoked : "ignored";
  const subject = subjectOf(payload, event);
  const user = wanted === "ignored" ? null : await resolveUser(d.pool, subject);
  let action: SsfReceiveAction | "ignored" | "unknown-subject" = wanted;
  if (wanted !== "ignored" && !user) action = "unknown-subject";
  const actor = `ssf:${iss}`;
  let changeId: number | null | undefined, note: string | undefined;

  if (action === "leaver" && user) {
    if (!user.active) note = "the user was already inactive";
    else {
      try {
        await d.deactivate(user.id, { tokenId: pusher.tokenId, source: "ssf", requestId, actor });
        changeId = await changeIdOf(d.pool, user.id, requestId);
      } catch (e) {
        if (!(e instanceof DomainError) || e.status >= 500) throw e;
        // A refusal (source authority, a vanished user): the signal is not lost, an owner decides it.
        action = "review"; note = `deactivation refused: ${e.message}`;
      }
    }
  }

  const at = d.clock.now();
  return withTransaction(d.pool, async (tx) => {
    const fresh = await insertReceived(tx, { iss, jti: payload.jti, eventType, subject, userId: user?.id ?? null, action, claims: payload as Record<string, unknown>, at });
    if (!fresh) return { replay: true } as const;
    let reviewId: string | undefined;
    const audits: AuditInput[] = [];
    if (action === "review" && user) {
      const r = await requestReview(tx, {
        kind: "data-quality", userId: user.id, source: "ssf",
        payload: { userName: user.userName, signals: [{ name: "ssf", eventType, iss, jti: payload.jti, reason: reasonOf(event) }], holds: [], ...(note ? { note } : {}) },
      }, at);
      reviewId = r.id;
      if (r.created) audits.push({ kind: "review.created", userId: user.id, cause: { reviewId: r.id, tokenId: pusher.tokenId, actor }, details: { kind: "data-quality", signals: ["ssf"], eventType } });
    }
    audits.push({
      kind: "ssf.set.received", ...(user ? { userId: user.id } : {}),
      cause: { tokenId: pusher.tokenId, actor, ...(changeId ? { changeId } : {}), ...(reviewId ? { reviewId } : {}) },
      details: { iss, jti: payload.jti, eventType, action, ...(note ? { note } : {}) },
    });
    await appendAudit(tx, audits, at);
    d.log.info({ code: "SSF_SET_RECEIVED", iss, jti: payload.jti, eventType, action, userId: user?.id }, "SET received");
    return { replay: false, action, userId: user?.id ?? null, eventType, ...(reviewId ? { reviewId } : {}), ...(changeId !== undefined ? { changeId } : {}), ...(note ? { note } : {}) };
  });
}

/** The event we act on: account-disabled before session-revoked, else the first (SSF SETs carry one). */
function pickEvent(events: Record<string, Record<string, unknown>>): [string, Record<string, unknown>] {
  for (const t of [EVENT.accountDisabled, EVENT.sessionRevoked]) if (events[t]) return [t, events[t]];
  const [first] = Object.entries(events);
  return first!;
}

const reasonOf = (event: Record<string, unknown>) =>
  typeof event.reason === "string" ? event.reason : typeof event.reason_admin === "object" && event.reason_admin ? (event.reason_admin as Record<string, unknown>).en ?? null : null;

async function resolveUser(q: pg.Pool, subject: unknown): Promise<KnownUser | null> {
  for (const k of subjectKeys(subject)) {
    const found = k.by === "email" ? await usersByEmail(q, k.value) : await usersByIdentifier(q, k.value);
    if (found.length === 1) return found[0]!;
  }
  return null;
}
