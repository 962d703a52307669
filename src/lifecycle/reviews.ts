// The review queue's use cases. What a decision does depends on the kind:
//   privileged-grant  approve → the rule membership is added (if the rule still grants it); deny → a block
//                     exception records the refusal, so the rule stops asking;
//   mover             (a portable membership kept on a transfer) approve → it stays; deny → a block removes it;
//   mass-deprovision  approve → every held leaver of the item is applied at once (disabled, memberships
//                     removed — a deleted one's parked memberships too —, apps told to deprovision); deny →
//                     entitlements stay (a deleted one's parked memberships included), the item records why,
//                     the held users are marked "kept" (until HR changes them again) and the log says so;
//   data-quality      approve → HR's data is applied as sent (a held re-activation enables the account);
//                     deny → the current state stays (data-quality-review.ts);
//   the others        (contractor without end date, service account without or losing its owner) are
//                     acknowledgements: the decision and its reason are recorded and audited.
// Every decision needs a reason and runs in one transaction with everything it causes.
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import { addMembers } from "../store/group-repository.ts";
import { findUser } from "../store/user-repository.ts";
import { badRequest, conflict, notFound } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import { desiredMemberships } from "../rules/evaluate.ts";
import { userStatus } from "../domain/classify.ts";
import { handleUserChange, type LifecycleContext } from "./user-lifecycle.ts";
import { AuditTrail } from "./audit-trail.ts";
import { deleteState, setStatus } from "./event-store.ts";
import { releaseMemberships } from "./held-membership-store.ts";
import { asEngineException, openExceptionsOf } from "./exception-store.ts";
import { ensureManagedGroups, touchGroups, touchUsers } from "./membership-store.ts";
import {
  decideReview, findReview, heldOf, listReviews, setHeldOutcome,
  type HeldLeaverRow, type ReviewKind, type ReviewRow, type ReviewStatus,
} from "./review-store.ts";
import type { ExceptionService } from "./exceptions.ts";
import { resolveUserId } from "./user-ref.ts";
import { decideDataQuality } from "./data-quality-review.ts";

export interface ReviewView extends ReviewRow { held?: HeldLeaverRow[] }

export class ReviewService {
  constructor(
    private readonly pool: pg.Pool, private readonly ctx: LifecycleContext, private readonly clock: Clock,
    private readonly exceptions: ExceptionService,
  ) {}

  async list(f: { status?: ReviewStatus; kind?: ReviewKind; user?: string; limit?: number } = {}): Promise<ReviewView[]> {
    const userId = f.user ? await resolveUserId(this.pool, f.user) : undefined;
    const rows = await listReviews(this.pool, { status: f.status, kind: f.kind, userId, limit: Math.min(f.limit ?? 500, 5000) });
    return this.withHeld(rows);
  }

  async get(id: string): Promise<ReviewView> {
    const r = await findReview(this.pool, id);
    if (!r) throw notFound(`Review ${id}`);
    return (await this.withHeld([r]))[0]!;
  }

  async approve(id: string, reason: string, actor: string): Promise<ReviewView> {
    return this.decide(id, "approved", reason, actor);
  }

  async deny(id: string, reason: string, actor: string): Promise<ReviewView> {
    return this.decide(id, "denied", reason, actor);
  }

  private async decide(id: string, status: "approved" | "denied", reason: string, actor: string): Promise<ReviewView> {
    if (typeof reason !== "string" || !reason.trim()) throw badRequest("invalidValue", "a decision needs a reason");
    const now = this.clock.now();
    const decided = await withTransaction(this.pool, async (tx) => {
      const review = await findReview(tx, id, { lock: true });
      if (!review) throw notFound(`Review ${id}`);
      if (review.status !== "pending") throw conflict(`review ${id} is already ${review.status}`);
      const audit = new AuditTrail({ actor, reviewId: id });
      let effect: Record<string, unknown> = {};
      if (review.kind === "mass-deprovision") effect = status === "approved" ? await this.release(tx, review, actor, now) : await this.reject(tx, review, now);
      else if (review.kind === "data-quality") effect = await decideDataQuality(tx, this.ctx, review, status, actor, now);
      else if (review.kind === "privileged-grant" && status === "approved") effect = await this.grantApproved(tx, review, actor, now);
      else if ((review.kind === "privileged-grant" || review.kind === "mover") && status === "denied" && review.userId && review.group) {
        const { exception, lost } = await this.exceptions.createIn(tx, {
          user: review.userId, group: review.group, kind: "block", reason: `review ${review.kind} denied: ${reason.trim()}`,
          owner: review.owner ?? actor, approver: actor,
        }, actor, now, { reviewId: id });
        effect = { blockException: exception.id, removed: lost };
      }
      const row = await decideReview(tx, id, status, actor, reason.trim(), now, { effect });
      audit.add("review.decided", { userId: review.userId ?? undefined, groupName: review.group ?? undefined, details: { kind: review.kind, status, reason: reason.trim(), ...effect } });
      await audit.flush(tx, now);
      return row;
    });
    if (decided.kind === "mass-deprovision" && status === "denied")
      this.ctx.log.warn({ reviewId: id, source: decided.source, by: actor, reason }, "mass-deprovision hold rejected: the held leavers keep their entitlements");
    return (await this.withHeld([decided]))[0]!;
  }

  /** Approval of a privileged grant: add the rule row the diff was waiting for, if the rule still grants it. */
  private async grantApproved(tx: pg.PoolClient, review: ReviewRow, actor: string, now: Date): Promise<Record<string, unknown>> {
    if (!review.userId || !review.group) return {};
    const user = await findUser(tx, review.userId, { lock: true });
    if (!user) return { applied: false, why: "the user no longer exists" };
    const { policy } = await this.ctx.policies.current(tx);
    const exceptions = (await openExceptionsOf(tx, [user.id])).map(asEngineException);
    const verdict = desiredMemberships({ ...user.data, id: user.id }, policy, exceptions, now, userStatus(user, now)).get(review.group);
    if (verdict?.reason !== "rule") return { applied: false, why: "the rule no longer grants this group" };
    const { ids } = await ensureManagedGroups(tx, [review.group], now);
    const groupId = ids.get(review.group)!;
    const cause = { rule: verdict.rule, policyVersion: verdict.policyVersion, reviewId: review.id };
    const added = await addMembers(tx, groupId, [user.id], "rule", cause);
    if (added.length) {
      const audit = new AuditTrail({ actor, reviewId: review.id, policyVersion: policy.version });
      audit.add("membership.added", { userId: user.id, groupName: review.group, cause: { rule: verdict.rule }, details: { source: "rule", privileged: true } });
      await audit.flush(tx, now);
      await touchGroups(tx, [groupId], now);
      await touchUsers(tx, [user.id], now);
      await this.ctx.fanout.membershipChanged(tx, { groupId, groupName: review.group, added: [user.id], removed: [], at: now });
    }
    // Anything else the user's rows need under the current policy (normally nothing).
    await handleUserChange(tx, this.ctx, { before: user, after: user, at: now, changeId: null, trigger: "review", actor, cause: { reviewId: review.id } });
    return { applied: added.length > 0 };
  }

  /** Approval of a mass-deprovision hold: every held leaver goes now, in this one transaction. */
  private async release(tx: pg.PoolClient, review: ReviewRow, actor: string, now: Date): Promise<Record<string, unknown>> {
    // Locked in user-id order, as a policy converge locks its candidates: two multi-user lockers never deadlock.
    const held = (await heldOf(tx, [review.id])).filter((h) => h.outcome === null).sort((a, b) => (a.userId < b.userId ? -1 : 1));
    const released: string[] = [], superseded: string[] = [];
    for (const h of held) {
      const user = await findUser(tx, h.userId, { lock: true });
      if (user && userStatus(user, now) !== "leaver") { superseded.push(h.userId); continue; } // HR brought them back
      const audit = new AuditTrail({ actor, reviewId: review.id, changeId: h.changeId });
      audit.add("guard.released", { userId: h.userId, details: { outcome: "released", userName: h.userName } });
      await audit.flush(tx, now);
      if (user) {
        await handleUserChange(tx, this.ctx, { before: user, after: user, at: now, changeId: h.changeId, trigger: "guard-release", actor, released: true, cause: { reviewId: review.id } });
      } else {
        // Deleted while held: its parked memberships go now, and the apps are told (account and groups).
        const e = { userId: h.userId, leaver: true, changeId: h.changeId, cause: "guard-release", at: now };
        await deleteState(tx, h.userId);
        await this.ctx.fanout.userDeleted(tx, e);
        const left = await releaseMemberships(tx, h.userId);
        const membership = new AuditTrail({ actor, reviewId: review.id, changeId: h.changeId });
        for (const g of left) {
          membership.add("membership.removed", { userId: h.userId, groupName: g.groupName, details: { reason: "deleted while held; released" } });
          await this.ctx.fanout.membershipChanged(tx, { groupId: g.groupId, groupName: g.groupName, added: [], removed: [h.userId], at: now });
        }
        await membership.flush(tx, now);
      }
      released.push(h.userId);
    }
    await setHeldOutcome(tx, review.id, released, "released", now);
    await setHeldOutcome(tx, review.id, superseded, "superseded", now);
    return { released: released.length, superseded: superseded.length };
  }

  /** Rejection of a hold: nothing is deprovisioned; the users stay parked ("kept") until HR changes them. */
  private async reject(tx: pg.PoolClient, review: ReviewRow, now: Date): Promise<Record<string, unknown>> {
    const held = (await heldOf(tx, [review.id])).filter((h) => h.outcome === null);
    const ids = held.map((h) => h.userId);
    await setHeldOutcome(tx, review.id, ids, "rejected", now);
    await setStatus(tx, ids, "kept", now);
    return { kept: ids.length };
  }

  private async withHeld(rows: ReviewRow[]): Promise<ReviewView[]> {
    const mass = rows.filter((r) => r.kind === "mass-deprovision").map((r) => r.id);
    if (!mass.length) return rows;
    const held = await heldOf(this.pool, mass);
    return rows.map((r) => (r.kind === "mass-deprovision" ? { ...r, held: held.filter((h) => h.reviewId === r.id) } : r));
  }
}
