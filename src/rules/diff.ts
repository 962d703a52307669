// Membership diff, pure: from what a user has (one row per group and source, as in group_member) and the
// verdicts of evaluate.ts, the rows to insert, delete and relabel, and the grants that wait for a review.
// The caller applies add, relabel and remove in one transaction (adds first: a source change, e.g. rule →
// keep exception, then never shows the user leaving and re-joining), and upserts pendingReview keyed by
// (user, group, reason).
//
// Invariants:
//  - manual rows are never touched (rules never remove manual memberships; the SCIM writer owns them);
//  - idempotent: applying a diff and diffing again gives no add, remove or relabel (property-tested);
//    privileged reviews are re-requested until approved (approval inserts the rule row) — a denial is
//    recorded as a block exception so the rule stops asking;
//  - leaver: every rule and exception row goes, whatever the verdicts say;
//  - leave: nothing changes at all (memberships kept, accounts suspended by the fan-out);
//  - transfer (mover, conversion, return): a portable group's rule row whose rule stopped matching is kept
//    and relabelled `retained: "portable"`, and a "mover" review asks the group owner to confirm it. The
//    marker makes later reconciliations keep it too, until the user leaves, a block applies, the group
//    stops being portable or leaves the policy, or the rule matches again (then the marker is cleared).
//    Role-bound (non-portable) rows go immediately; new standard groups come immediately; new privileged
//    ones wait for review like any privileged grant.
import type { LifecycleEvent, UserStatus } from "../domain/classify.ts";
import type { Desired, DesiredMemberships } from "./evaluate.ts";
import { policyGroup, type Policy, type PolicyGroup } from "./policy-loader.ts";

export type MembershipSource = "rule" | "exception" | "manual";

/** What group_member.cause records for broker rows. */
export type MembershipCause =
  | { rule: string; policyVersion: string; retained?: "portable" }
  | { exceptionId: string; kind: "grant" | "keep" };

export interface CurrentMembership {
  group: string;
  source: MembershipSource;
  cause?: MembershipCause | null;
}

export interface MembershipRow {
  group: string;
  source: "rule" | "exception";
  cause: MembershipCause;
}

export interface ReviewRequest {
  group: string;
  /** privileged: a rule grant waits for the owner; mover: confirm a portable membership kept on a transfer. */
  reason: "privileged" | "mover";
  owner?: string;
  cause: MembershipCause;
}

export interface MembershipDiff {
  add: MembershipRow[];
  remove: Array<{ group: string; source: "rule" | "exception" }>;
  /** Rows that stay but whose cause changes (retained marker, or the exception now holding them). */
  relabel: MembershipRow[];
  pendingReview: ReviewRequest[];
}

/** What the diff needs to know about the change: the user's status now, and whether it was a transfer. */
export interface DiffClassification {
  status: UserStatus;
  transfer: boolean;
}

const TRANSFER_EVENTS = new Set<LifecycleEvent["kind"]>(["mover", "conversion", "return"]);

/**
 * From classifyChange's events and the user's status. Return counts as a transfer: attributes that
 * changed while memberships were frozen on leave are applied at return, and portable ones must survive that.
 */
export function classificationOf(status: UserStatus, events: readonly LifecycleEvent[]): DiffClassification {
  return { status, transfer: events.some((e) => TRANSFER_EVENTS.has(e.kind)) };
}

export const emptyDiff = (): MembershipDiff => ({ add: [], remove: [], relabel: [], pendingReview: [] });

type Target = { source: "rule" | "exception"; cause: MembershipCause } | null;

export function diffMemberships(
  current: readonly CurrentMembership[],
  desired: DesiredMemberships,
  policy: Policy,
  classification: DiffClassification,
): MembershipDiff {
  const diff = emptyDiff();
  if (classification.status === "leave") return diff;
  const leaver = classification.status === "leaver";

  const rows = new Map<string, { rule?: CurrentMembership; exception?: CurrentMembership; manual: boolean }>();
  const slot = (g: string) => rows.get(g) ?? rows.set(g, { manual: false }).get(g)!;
  for (const m of current) {
    if (m.source === "manual") slot(m.group).manual = true;
    else slot(m.group)[m.source] = m;
  }
  const groups = new Set([...rows.keys(), ...(leaver ? [] : desired.keys())]);

  for (const name of [...groups].sort()) {
    const have = rows.get(name) ?? { manual: false };
    const group = policyGroup(policy, name);
    const verdict = leaver || !group ? undefined : desired.get(name);
    const target = leaver || !group ? null : targetRow(group, verdict, have, classification);

    if (target?.source === "rule") {
      if (have.rule) {
        if (retainedOf(have.rule) !== retainedOf(target)) {
          diff.relabel.push({ group: name, source: "rule", cause: target.cause });
          if (retainedOf(target)) diff.pendingReview.push(review(group!, "mover", target.cause));
        }
      } else if (group!.privileged && !have.exception && !have.manual) {
        // A privileged rule grant gives access only after the owner approves; a user who is already a
        // member (by exception or manually) gains no access, so the row is simply recorded.
        diff.pendingReview.push(review(group!, "privileged", target.cause));
      } else diff.add.push({ group: name, source: "rule", cause: target.cause });
    } else if (target?.source === "exception") {
      // Exceptions carry their own approver: no review, even for a privileged group.
      if (!have.exception) diff.add.push({ group: name, source: "exception", cause: target.cause });
      else if (!sameException(have.exception.cause, target.cause)) diff.relabel.push({ group: name, source: "exception", cause: target.cause });
    }
    if (have.rule && target?.source !== "rule") diff.remove.push({ group: name, source: "rule" });
    if (have.exception && target?.source !== "exception") diff.remove.push({ group: name, source: "exception" });
  }
  return diff;
}

/** The one broker row the group should have for this user, or null for none. */
function targetRow(
  group: PolicyGroup,
  verdict: Desired | undefined,
  have: { rule?: CurrentMembership; exception?: CurrentMembership },
  { transfer, status }: DiffClassification,
): Target {
  if (verdict?.reason === "rule") return { source: "rule", cause: { rule: verdict.rule, policyVersion: verdict.policyVersion } };
  if (verdict?.reason === "exception") {
    if (verdict.kind === "block") return null;
    if (verdict.kind === "grant" || have.rule || have.exception)
      return { source: "exception", cause: { exceptionId: verdict.exceptionId, kind: verdict.kind } };
    return null; // keep without a membership to hold
  }
  if (status === "active" && have.rule && group.portable && (transfer || retainedOf(have.rule))) {
    const previous = have.rule.cause && "rule" in have.rule.cause ? have.rule.cause : null;
    return { source: "rule", cause: { rule: previous?.rule ?? group.name, policyVersion: previous?.policyVersion ?? "", retained: "portable" } };
  }
  return null;
}

const retainedOf = (m: { cause?: MembershipCause | null }) => (m.cause && "rule" in m.cause && m.cause.retained) || undefined;

const sameException = (a: MembershipCause | null | undefined, b: MembershipCause) =>
  !!a && "exceptionId" in a && "exceptionId" in b && a.exceptionId === b.exceptionId && a.kind === b.kind;

const review = (group: PolicyGroup, reason: ReviewRequest["reason"], cause: MembershipCause): ReviewRequest => ({
  group: group.name, reason, cause, ...(group.owner ? { owner: group.owner } : {}),
});

/** The rows after applying a diff (the store does the same in SQL); used by the planner and the tests. */
export function applyDiff(current: readonly CurrentMembership[], diff: MembershipDiff): CurrentMembership[] {
  const key = (g: string, s: MembershipSource) => `${g}\u0000${s}`;
  const out = new Map(current.map((m) => [key(m.group, m.source), m]));
  for (const r of [...diff.add, ...diff.relabel]) out.set(key(r.group, r.source), { ...r });
  for (const r of diff.remove) out.delete(key(r.group, r.source));
  return [...out.values()];
}

export const isEmptyDiff = (d: MembershipDiff) => d.add.length + d.remove.length + d.relabel.length + d.pendingReview.length === 0;
