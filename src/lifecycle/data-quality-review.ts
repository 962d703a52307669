// Deciding a user's data-quality review (reviews.ts calls this inside the decision's transaction).
//   approve → HR's data is applied as sent: a held re-activation enables the account and the user is a
//             rehire (memberships, apps); held memberships or grants follow the rules on the stored data.
//   deny    → the current state stays and the reason is recorded: a held re-activation stays a leaver (the
//             account disabled); held memberships or grants stay as they are ("kept") until HR changes the
//             user again, when the shield looks at the new data.
// A review that held nothing (a flag on a leaver, a termination far ahead) is an acknowledgement.
import type pg from "pg";
import { findUser, setUserActive } from "../store/user-repository.ts";
import { toColumns } from "../scim/user-resource.ts";
import { userStatus } from "../domain/classify.ts";
import { AuditTrail } from "./audit-trail.ts";
import { deleteHold, holdOfReview, setHoldState } from "./data-quality-store.ts";
import type { ReviewRow } from "./review-store.ts";
import { handleUserChange, type LifecycleContext } from "./user-lifecycle.ts";

export async function decideDataQuality(
  tx: pg.PoolClient, ctx: LifecycleContext, review: ReviewRow, status: "approved" | "denied", actor: string, now: Date,
): Promise<Record<string, unknown>> {
  const hold = await holdOfReview(tx, review.id);
  if (!hold) return { held: [], note: "nothing was held: the decision is recorded" };
  if (status === "denied") {
    if (hold.holds.includes("reactivation")) {
      await deleteHold(tx, hold.userId); // the user is simply the leaver it was; a new re-activation is judged anew
      return { kept: hold.holds, account: "stays disabled" };
    }
    await setHoldState(tx, hold.userId, "kept", now);
    return { kept: hold.holds };
  }

  await deleteHold(tx, hold.userId);
  const user = await findUser(tx, hold.userId, { lock: true });
  if (!user) return { applied: false, why: "the user no longer exists" };
  const cause = { reviewId: review.id };
  if (hold.holds.includes("reactivation")) {
    if (userStatus({ ...user, active: true }, now) === "leaver") return { applied: false, why: "HR has ended the employment since: the user stays a leaver" };
    const enabled = (await setUserActive(tx, user.id, true, now)) ?? user;
    const audit = new AuditTrail({ actor, reviewId: review.id });
    audit.add("account.enabled", { userId: user.id, details: { reason: "data-quality review approved: re-activation applied" } });
    await audit.flush(tx, now);
    const out = await handleUserChange(tx, ctx, { before: user, after: enabled, at: now, changeId: null, trigger: "review", actor, cause, dataQuality: "approved" });
    return { applied: true, enabled: true, gained: out.gained, lost: out.lost };
  }
  // Held memberships: the rules saw the user as held_data; from that state to the stored one is the mover.
  const before = hold.heldData ? { ...user, ...toColumns(hold.heldData) } : user;
  const out = await handleUserChange(tx, ctx, { before, after: user, at: now, changeId: null, trigger: "review", actor, cause, dataQuality: "approved" });
  return { applied: true, gained: out.gained, lost: out.lost };
}
