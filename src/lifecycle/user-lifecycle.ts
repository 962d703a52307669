// The lifecycle use case for one user, inside the transaction of whatever changed them (an HR write, the
// scheduled start/end date, an exception, a review decision, a guard release). It tells the story:
//
//   1. classify the change (domain/classify.ts) → lifecycle events (joiner, mover, leaver, leave, return, …);
//      the data-quality shield (data-quality-step.ts) records its signals and may hold access being given
//      (a re-activation, the memberships of a mover with an unknown value, the grants of an identity clash) —
//      never a leaver;
//   2. a leaver first meets the mass-deprovision guard: held → the HR data stays as sent, the leaver joins
//      the source's open review, and nothing else happens (no membership change, no fan-out; a deleted
//      user's memberships are parked with the hold and still count for the apps' groups);
//   3. a leaver's exceptions close and its pending reviews are cancelled;
//   4. desired memberships (evaluate.ts) vs the user's rows (diff.ts) → add / relabel / remove rows, and
//      privileged grants or portable memberships that wait for a review;
//   5. the account: a leaver still active=true is disabled; a pre-hire whose start date came is enabled;
//   6. review flags (contractor without end date, ownerless service account, service accounts whose owner
//      left or moved), the user's next scheduled instant, audit rows, and the fan-out outbox.
//
// The work is proportional to the user: its rows and exceptions are read by user_id and conditions are
// evaluated in memory (the population-wide SQL is for policy applies, policy-apply.ts).
import type pg from "pg";
import { classifyChange, effectiveDates, userStatus, type LifecycleEvent, type UserStatus } from "../domain/classify.ts";
import { desiredMemberships } from "../rules/evaluate.ts";
import { applyDiff, classificationOf, diffMemberships, type CurrentMembership, type MembershipDiff } from "../rules/diff.ts";
import { policyGroup, type Policy } from "../rules/policy-loader.ts";
import { addMembers, removeMembers } from "../store/group-repository.ts";
import { setUserActive } from "../store/user-repository.ts";
import { issued, writeTogether } from "../store/database.ts";
import type { FanoutPort, UserChangedEvent } from "./fanout-port.ts";
import type { Logger } from "../shared/logger.ts";
import type { ActivePolicy, PolicyHolder } from "./policy-holder.ts";
import { AuditTrail, membershipCause } from "./audit-trail.ts";
import { getState, recordTransition, type EventInput, type LifecycleState, type LifecycleTrigger, type StoredState } from "./event-store.ts";
import { asEngineException, openExceptionsOf, revokeOpenExceptionsOf } from "./exception-store.ts";
import { cancelUserReviews, requestReview, supersedeHolds } from "./review-store.ts";
import { ensureManagedGroups, groupIdsByName, membershipsOf, relabelMembers, touchGroups, touchUsers, type MemberRow } from "./membership-store.ts";
import { checkMassDeprovision, holdLeaver } from "./mass-deprovision.ts";
import { holdingReview, parkMemberships } from "./held-membership-store.ts";
import { dataQualityShield, shieldEventRows, withheldGrants, type ShieldContext } from "./data-quality-step.ts";
import type { UserRow } from "../store/rows.ts";
import type { LifecycleBatch } from "./lifecycle-batch.ts";

type Tx = Pick<pg.PoolClient, "query">;

export interface LifecycleContext extends ShieldContext { policies: PolicyHolder; fanout: FanoutPort; log: Logger }

export interface UserChangeInput {
  /** null: the user was just created */
  before: UserRow | null;
  /** null: the user is being deleted (the hook runs before the row goes) */
  after: UserRow | null;
  at: Date;
  /** the instant `before` is judged at: the scheduled instant − 1 ms for the sweep (classify.ts) */
  beforeAt?: Date;
  changeId: number | null;
  trigger: LifecycleTrigger;
  actor: string;
  tokenId?: string | null;
  /** what else caused it, for the audit rows (the exception or review that triggered a re-evaluation) */
  cause?: { exceptionId?: string; reviewId?: string };
  /** the guard's hold was approved: apply this leaver now, do not count or hold it again */
  released?: boolean;
  /** the user's data-quality review was approved: apply HR's data as sent, without the shield */
  dataQuality?: "approved";
  /** the user's lifecycle state (getState) when the caller has already read it in this transaction */
  state?: StoredState | null | Promise<StoredState | null>;
  /** the policy when the caller has already read it in this transaction (policies.current: under the shared lock) */
  policy?: ActivePolicy;
  /** a create in a batch of creates: its transition is recorded with the batch's (lifecycle-batch.ts) */
  batch?: LifecycleBatch;
  /** users of the same batch stored after this one (in the same statement): not there yet for this change */
  laterInBatch?: readonly string[];
}

export interface UserChangeOutcome {
  events: LifecycleEvent[];
  status: UserStatus;
  /** held by the guard now, or still parked by an earlier hold or rejection */
  held: boolean;
  gained: string[];
  lost: string[];
  reviews: string[];
  /** the lifecycle itself enabled or disabled the account (the stored user differs from what was written) */
  accountChanged: boolean;
}

export async function handleUserChange(tx: Tx, ctx: LifecycleContext, input: UserChangeInput): Promise<UserChangeOutcome> {
  const c = await judgeChange(tx, ctx, input);
  const held = (await keepParkedLeaver(c)) ?? (await guardLeaver(c));
  if (held) return held;
  if (input.released) c.eventRows.push(c.eventRow("guard-release", { reviewId: input.cause?.reviewId ?? null }));
  if (c.status === "leaver") await closeLeaverObligations(c);
  const enabled = await enableAtStartDate(c);
  // The service accounts a leaving or moving owner holds are read with the memberships, in the same round trip
  // (pipelined: store/database.ts); nothing applyMemberships writes changes them.
  writeTogether(tx);
  const owned = issued(ownedServiceAccounts(tx, c.user, c.events)); // a failure of applyMemberships is the one reported
  const written = await applyMemberships(c);
  await reviewFlags(tx, c.user, c.events, c.audit, c.now, await owned);
  const disabled = await disableLeaver(c);
  const accountChanged = enabled || disabled;
  await recordState(c, written, accountChanged);
  await notifyFanout(c, written, accountChanged);
  c.outcome.accountChanged ||= accountChanged;
  return c.outcome;
}

/** What one change is about, judged once: the events, the shield's verdict, the status, the audit trail. */
interface JudgedChange {
  tx: Tx; ctx: LifecycleContext; input: UserChangeInput;
  user: UserRow; deleted: boolean; now: Date; policy: Policy;
  events: LifecycleEvent[]; audit: AuditTrail; previous: StoredState | null;
  shield: Awaited<ReturnType<typeof dataQualityShield>>;
  /** the user as the lifecycle sees it after the shield (a held re-activation comes back disabled) */
  after: UserRow | null;
  status: UserStatus;
  /** the user the rules evaluate: `after`, or the stored row once the lifecycle enabled it */
  subject: UserRow;
  eventRows: EventInput[];
  eventRow: (kind: string, details: Record<string, unknown> | null, held?: boolean) => EventInput;
  outcome: UserChangeOutcome;
}

/** Step 1: classify the change (classify.ts) and let the data-quality shield (data-quality-step.ts) judge it. */
async function judgeChange(tx: Tx, ctx: LifecycleContext, input: UserChangeInput): Promise<JudgedChange> {
  const user = (input.after ?? input.before)!;
  const deleted = input.after === null;
  const now = input.at;
  const { policy } = input.policy ?? (await ctx.policies.current(tx));
  const events = input.released ? [] : classifyChange(input.before, input.after, now, input.beforeAt ?? now);
  const audit = new AuditTrail({ changeId: input.changeId, tokenId: input.tokenId, actor: input.actor, policyVersion: policy.version, ...input.cause });
  const previous = input.before ? (input.state !== undefined ? await input.state : await getState(tx, user.id)) : null;
  // The shield records its signals and may hold access being given. A held re-activation comes back
  // disabled, so from here on the user is the leaver it was.
  const shield = await dataQualityShield(tx, ctx, { input, user, events, previous, policy, audit, now });
  const after = shield.after;
  const status: UserStatus = deleted || shield.keepLeaver ? "leaver" : userStatus(after!, now);
  const eventRow = (kind: string, details: Record<string, unknown> | null, held = false): EventInput =>
    ({ userId: user.id, kind, details, changeId: input.changeId, source: user.source, cause: input.trigger, held });
  // Review flags are not events of their own: they become review rows (and review.created audit rows).
  const recorded = events.filter((e) => e.kind !== "review");
  const eventRows = shieldEventRows(shield, recorded.map((e) => eventRow(e.kind, detailsOf(e), false)), eventRow);
  for (const e of recorded) audit.add("lifecycle.event", { userId: user.id, details: { event: e.kind, ...detailsOf(e), trigger: input.trigger } });
  const outcome: UserChangeOutcome = { events, status, held: false, gained: [], lost: [], reviews: [], accountChanged: after !== input.after };
  return { tx, ctx, input, user, deleted, now, policy, events, audit, previous, shield, after, status, subject: user, eventRows, eventRow, outcome };
}

/**
 * Step 2a: a leaver the guard holds (or whose hold was rejected) stays parked: HR's data is stored as sent,
 * entitlements wait for the review. Deleted now: the memberships are parked with the hold, and the
 * lifecycle state stays (the apps read it: a held user's account is not touched). HR correcting itself (no
 * longer a leaver) supersedes the hold.
 */
async function keepParkedLeaver(c: JudgedChange): Promise<UserChangeOutcome | null> {
  const { tx, user, now } = c;
  const parked = c.previous?.status === "held" || c.previous?.status === "kept";
  if (!parked) return null;
  if (c.status !== "leaver") { await supersedeHolds(tx, user.id, now); return null; }
  if (c.input.released) return null;
  if (c.deleted) { const reviewId = await holdingReview(tx, user.id); if (reviewId) await parkMemberships(tx, user.id, reviewId, now); }
  await recordTransition(tx, user.id, c.eventRows.map((e) => ({ ...e, held: true })), "keep", now);
  await c.audit.flush(tx, now);
  return { ...c.outcome, held: true };
}

/** Step 2b: a new leaver meets the mass-deprovision guard (mass-deprovision.ts); held → nothing else happens. */
async function guardLeaver(c: JudgedChange): Promise<UserChangeOutcome | null> {
  const { tx, user, now, input } = c;
  const leaver = leaverEvent(c.events);
  if (!leaver || input.released) return null;
  const decision = await checkMassDeprovision(tx, c.policy.guards.massDeprovision, user, now);
  if (!decision.hold) return null;
  const reviewId = await holdLeaver(tx, { user, decision, changeId: input.changeId, reason: leaver.reason, now, audit: c.audit });
  const rows = c.eventRows.map((e) => (e.kind === "leaver" ? { ...e, held: true, details: { ...e.details, reviewId, guard: decision.reason } } : e));
  // A held DELETE: the user row goes as HR asked, its memberships wait with the hold (held-membership-store.ts).
  if (c.deleted) await parkMemberships(tx, user.id, reviewId, now);
  await recordTransition(tx, user.id, rows, { status: "held", nextAt: null }, now);
  c.ctx.log.warn({ userId: user.id, source: user.source, reviewId, decision: decision.reason }, "leaver held by the mass-deprovision guard");
  await c.audit.flush(tx, now);
  return { ...c.outcome, held: true };
}

/** Step 3: a leaver's exceptions close and its pending reviews are cancelled. */
async function closeLeaverObligations(c: JudgedChange): Promise<void> {
  const { tx, user, now, audit } = c;
  // Issued together: in withTransaction's pipelined transaction both leave in one round trip and run in
  // this order (store/database.ts); neither reads what the other writes.
  const [revoked, cancelled] = await Promise.all([
    revokeOpenExceptionsOf(tx, user.id, "lifecycle", "the user left", now), cancelUserReviews(tx, user.id, "the user left", now)]);
  for (const e of revoked)
    audit.add("exception.revoked", { userId: user.id, groupName: e.group, cause: { exceptionId: e.id }, details: { kind: e.kind, reason: "the user left" } });
  for (const r of cancelled)
    audit.add("review.decided", { userId: user.id, groupName: r.group ?? undefined, cause: { reviewId: r.id }, details: { kind: r.kind, status: "cancelled" } });
}

/**
 * Step 4: only a pre-hire whose start date has come is active while active=false (classify.ts): at its
 * start date the broker enables the account — before the rules run, so conditions on `active` see the
 * joiner as the apps will. True when it enabled the account.
 */
async function enableAtStartDate(c: JudgedChange): Promise<boolean> {
  if (c.deleted || c.status !== "active" || c.after!.active) return false;
  c.subject = (await setUserActive(c.tx, c.user.id, true, c.now)) ?? c.user;
  c.audit.add("account.enabled", { userId: c.user.id, details: { reason: "start date reached" } });
  return true;
}

/**
 * Step 5: desired memberships (evaluate.ts) against the user's rows (diff.ts) → rows added, relabelled,
 * removed; privileged grants and portable memberships of a mover wait for a review. A new user has no
 * rows yet, and nobody can have filed an exception for it.
 */
async function applyMemberships(c: JudgedChange): Promise<WrittenDiff> {
  const { tx, user, input, status, policy, now, audit } = c;
  // Two reads, one round trip (pipelined: store/database.ts).
  const [current, open] = await Promise.all([
    input.before ? membershipsOf(tx, user.id) : [], input.before && status !== "leaver" ? openExceptionsOf(tx, [user.id]) : []]);
  const exceptions = open.map(asEngineException);
  const desired = desiredMemberships({ ...(c.shield.evaluateAs ?? c.subject.data), id: user.id }, policy, exceptions, now, status);
  const diff = withheldGrants(c.shield, withLeaverManualRemovals(diffMemberships(current, desired, policy, classificationOf(status, c.events)), current, policy, status));
  const written = await writeUserDiff(tx, user.id, current, diff, audit, now, input.batch);
  c.outcome.gained = written.gained;
  c.outcome.lost = written.lost;
  for (const r of diff.pendingReview) {
    const kind = r.reason === "privileged" ? "privileged-grant" : "mover";
    const review = await requestReview(tx, { kind, userId: user.id, group: r.group, owner: r.owner ?? null, payload: { userName: user.userName, cause: r.cause } }, now);
    c.outcome.reviews.push(r.group);
    if (review.created) audit.add("review.created", { userId: user.id, groupName: r.group, cause: { reviewId: review.id, ...membershipCause(r.cause) }, details: { kind } });
  }
  return written;
}

/** Step 6: a leaver still active=true in HR's data (terminated, end date passed) is disabled now. */
async function disableLeaver(c: JudgedChange): Promise<boolean> {
  if (c.deleted || c.status !== "leaver" || !c.after!.active) return false;
  await setUserActive(c.tx, c.user.id, false, c.now);
  const reason = leaverEvent(c.events)?.reason ?? (c.input.released ? "guard-release" : "leaver");
  c.audit.add("account.disabled", { userId: c.user.id, details: { reason } });
  return true;
}

/** Step 7: the events, the audit rows, and the user's next scheduled instant (start or end date) for the sweep. */
async function recordState(c: JudgedChange, written: WrittenDiff, accountChanged: boolean): Promise<void> {
  const { tx, user, now, input } = c;
  let state: LifecycleState | "delete" = "delete";
  if (!c.deleted) {
    const { startAt, endAt } = effectiveDates(c.after!, now);
    state = { status: c.status, nextAt: [startAt, endAt].filter((d): d is Date => d !== null).sort((a, b) => a.getTime() - b.getTime())[0] ?? null };
  }
  const membershipsChanged = written.changedGroups.size > 0;
  if (membershipsChanged && input.batch) input.batch.touch(written.changedGroups.values(), now);
  else if (membershipsChanged) await touchGroups(tx, [...written.changedGroups.values()], now);
  // An HR write already bumped the user's version; other triggers change its `groups` without one.
  if (input.trigger !== "hr" && membershipsChanged && !accountChanged && !c.deleted) await touchUsers(tx, [user.id], now);
  if (input.batch) input.batch.add({ userId: user.id, events: c.eventRows, state }, now, c.audit.take());
  else await recordTransition(tx, user.id, c.eventRows, state, now, c.audit.take());
}

/**
 * Step 8: the fan-out outbox (fanout-port.ts), in this transaction. HR writes and transitions always
 * concern the apps (any attribute may be mapped); re-evaluations do when they changed something.
 */
async function notifyFanout(c: JudgedChange, written: WrittenDiff, accountChanged: boolean): Promise<void> {
  const { user, input, now } = c;
  const tx = c.tx as pg.PoolClient;
  const fanout = c.ctx.fanout;
  const userEvent: UserChangedEvent = { userId: user.id, leaver: c.status === "leaver", changeId: input.changeId, cause: fanoutCause(c.events, input), at: now };
  const membershipsChanged = written.changedGroups.size > 0;
  const groupEvents = [...written.changedGroups].map(([group, groupId]) => ({
    groupId, groupName: group, at: now,
    added: written.gained.includes(group) ? [user.id] : [], removed: written.lost.includes(group) ? [user.id] : [],
  }));
  // A create in a batch (an HR write, never a deletion): handed to the fan-out with the batch's
  // (lifecycle-batch.ts) — unless it is created a leaver, which goes out at once as every leaver does.
  if (input.batch && c.status !== "leaver") { input.batch.notify(userEvent, groupEvents); return; }
  if (c.deleted) await fanout.userDeleted(tx, userEvent);
  else if (input.trigger === "hr" || input.trigger === "schedule" || input.released || input.dataQuality || membershipsChanged || accountChanged)
    await fanout.userChanged(tx, userEvent);
  for (const e of groupEvents) await fanout.membershipChanged(tx, e);
}

type WrittenDiff = Awaited<ReturnType<typeof writeUserDiff>>;
const leaverEvent = (events: readonly LifecycleEvent[]) => events.find((e): e is Extract<LifecycleEvent, { kind: "leaver" }> => e.kind === "leaver");

/**
 * Applies one user's diff: adds first, then relabels, then removes (diff.ts: a source change never shows
 * the user leaving and re-joining). Returns the groups whose visible membership changed. `batch`: a created
 * user in a batch of creates — it has no rows, so its adds are written with the batch's (lifecycle-batch.ts).
 */
export async function writeUserDiff(tx: Tx, userId: string, current: readonly MemberRow[], diff: MembershipDiff, audit: AuditTrail, now: Date, batch?: LifecycleBatch) {
  const deferred = batch && current.length === 0 && !diff.relabel.length && !diff.remove.length ? batch : undefined;
  const ids = new Map(current.map((m) => [m.group, m.groupId]));
  const missing = [...new Set(diff.add.map((a) => a.group).filter((g) => !ids.has(g)))];
  if (missing.length) {
    for (const [n, id] of await (deferred ? deferred.groupIds(tx, missing) : groupIdsByName(tx, missing))) ids.set(n, id);
    const absent = missing.filter((g) => !ids.has(g));
    // Managed groups are created when a policy is recorded; this only covers a group removed behind our back.
    if (absent.length) for (const [n, id] of (await ensureManagedGroups(tx, absent, now)).ids) ids.set(n, id);
  }
  const visibleBefore = new Set(current.map((m) => m.group));
  const visibleAfter = new Set(applyDiff(current, diff).map((m) => m.group));
  if (deferred) deferred.addMembers(diff.add.map((a) => ({ groupId: ids.get(a.group)!, userId, source: a.source, cause: a.cause })));
  for (const a of diff.add) {
    const done = deferred ? [userId] : await addMembers(tx, ids.get(a.group)!, [userId], a.source, a.cause);
    if (done.length) audit.add("membership.added", { userId, groupName: a.group, cause: membershipCause(a.cause), details: { source: a.source, visible: !visibleBefore.has(a.group) } });
  }
  await relabelMembers(tx, diff.relabel.map((r) => ({ groupId: ids.get(r.group)!, userId, source: r.source, cause: r.cause })));
  for (const r of diff.remove) {
    const row = current.find((m) => m.group === r.group && m.source === r.source);
    const done = await removeMembers(tx, ids.get(r.group)!, [userId], r.source);
    if (done.length) audit.add("membership.removed", { userId, groupName: r.group, cause: membershipCause(row?.cause), details: { source: r.source, visible: !visibleAfter.has(r.group) } });
  }
  const gained = [...visibleAfter].filter((g) => !visibleBefore.has(g)).sort();
  const lost = [...visibleBefore].filter((g) => !visibleAfter.has(g)).sort();
  const changedGroups = new Map([...gained, ...lost].map((g) => [g, ids.get(g)!]));
  return { gained, lost, changedGroups };
}

/**
 * A leaver is out of every managed group, manual memberships included: apps subscribe to managed groups, so
 * a manual row there is access. (diff.ts never touches manual rows — right for joiners and movers, whose
 * manual memberships HR or an admin chose; a leaver's are exactly what must not survive.) Manual rows of
 * groups the policy does not manage stay: rules never remove those.
 */
export function withLeaverManualRemovals(diff: MembershipDiff, current: readonly CurrentMembership[], policy: Policy, status: UserStatus): MembershipDiff {
  if (status !== "leaver") return diff;
  const manual = current.filter((m) => m.source === "manual" && policyGroup(policy, m.group));
  if (!manual.length) return diff;
  // diff.ts types broker rows only; the store removes any source the same way.
  return { ...diff, remove: [...diff.remove, ...manual.map((m) => ({ group: m.group, source: m.source as "rule" }))] };
}

/**
 * The service accounts this user sponsors or manages, when a classification flag asks for them (they need a
 * new owner's review). HR feeds reference the owner by id or by externalId (employee id); both are indexed.
 */
async function ownedServiceAccounts(tx: Tx, user: UserRow, events: readonly LifecycleEvent[]): Promise<Array<{ id: string; user_name: string }>> {
  if (!events.some((e) => e.kind === "review" && e.flag.kind === "owned-service-accounts")) return [];
  const refs = [user.id, ...(user.externalId ? [user.externalId] : [])];
  const { rows } = await tx.query(
    `SELECT id, user_name FROM scim_user WHERE (sponsor_id = ANY($1::text[]) OR manager_id = ANY($1::text[]))
       AND lower(coalesce(user_type, '')) = 'service' AND id <> $2`, [refs, user.id]);
  return rows;
}

/** Reviews raised by classification flags (classify.ts reviewFlags/ownerReview). */
async function reviewFlags(tx: Tx, user: UserRow, events: readonly LifecycleEvent[], audit: AuditTrail, now: Date, owned: ReadonlyArray<{ id: string; user_name: string }>): Promise<void> {
  for (const e of events) {
    if (e.kind !== "review") continue;
    const flag = e.flag;
    if (flag.kind === "owned-service-accounts") {
      const kind = flag.because === "owner-left" ? "owner-left" : "owner-moved";
      for (const sa of owned) {
        const r = await requestReview(tx, { kind, userId: sa.id, payload: { serviceAccount: sa.user_name, previousOwner: user.id, previousOwnerUserName: user.userName } }, now);
        if (r.created) audit.add("review.created", { userId: sa.id, cause: { reviewId: r.id }, details: { kind, owner: user.id } });
      }
    } else {
      const owner = flag.kind === "contractor-without-end-date" ? (user.sponsorId ?? user.managerId) : null;
      const r = await requestReview(tx, { kind: flag.kind, userId: user.id, owner, payload: { userName: user.userName, userType: user.userType } }, now);
      if (r.created) audit.add("review.created", { userId: user.id, cause: { reviewId: r.id }, details: { kind: flag.kind } });
    }
  }
}

function detailsOf(e: LifecycleEvent): Record<string, unknown> | null {
  const { kind: _kind, ...rest } = e as LifecycleEvent & Record<string, unknown>;
  if ("startAt" in rest && rest.startAt instanceof Date) rest.startAt = rest.startAt.toISOString();
  return Object.keys(rest).length ? rest : null;
}

const FANOUT_CAUSES = ["leaver", "joiner", "rehire", "return", "leave", "conversion", "mover"] as const;
function fanoutCause(events: readonly LifecycleEvent[], input: UserChangeInput): string {
  if (input.released) return "guard-release";
  for (const c of FANOUT_CAUSES) if (events.some((e) => e.kind === c)) return c;
  return input.trigger === "hr" || input.trigger === "schedule" ? "update" : input.trigger;
}
