// Rules engine, pure: which managed groups a user should be in, and why, given the policy
// and the user's exceptions at an instant. It says nothing about what the user has now — diff.ts compares.
//
// Semantics, per managed group (groups absent from the policy are never produced):
//   1. an in-force block exception wins over everything: the verdict is "block" (the diff removes broker
//      memberships and does not retain them as portable);
//   2. else the rule matches → reason "rule";
//   3. else an in-force grant → reason "exception", kind "grant";
//   4. else an in-force keep → reason "exception", kind "keep": a *conditional* verdict. A keep holds a
//      membership the user already has from the broker (rule or exception row) when the rule stops
//      matching; it never creates one. While it holds, the membership's source becomes the exception (the
//      audit shows what keeps the user in); when it expires or is revoked the rule outcome applies again,
//      i.e. the membership goes unless the rule matches by then.
// The rule wins over grant and keep because it is the durable reason: when the exception expires the
// membership is already where it belongs and nothing changes.
//
// Exceptions in force: expiresAt absent/null or strictly after `now`. Exceptions naming a group the policy
// does not declare are ignored (they outlive a policy edit; the register shows them as dangling).
//
// Status (see userStatus in domain/classify.ts): a leaver or a pre-hire gets an empty map — no rule and
// no exception applies, grants and keeps included. An exception was granted to someone who worked here;
// letting it survive termination is how leavers keep access. The lifecycle layer closes a leaver's
// exceptions; should any survive, they apply again only after a rehire, and only if still unexpired.
// A user on leave is evaluated normally; the diff freezes their memberships (lifecycle "leave").
import { toColumns, type UserResource } from "../scim/user-resource.ts";
import { userStatus, type UserSnapshot, type UserStatus } from "../domain/classify.ts";
import { conditionMatches } from "./condition.ts";
import type { Policy } from "./policy-loader.ts";

export type ExceptionKind = "grant" | "keep" | "block";

/** The fields of an exceptions-register entry the engine needs (reason, owner, approver stay in the register). */
export interface MembershipException {
  id: string;
  userId: string;
  group: string;
  kind: ExceptionKind;
  expiresAt?: Date | null;
}

export type Desired =
  | { reason: "rule"; rule: string; policyVersion: string }
  | { reason: "exception"; kind: ExceptionKind; exceptionId: string };

/** Verdict per managed group that has one. Entries with kind "block" mean "must not be a member". */
export type DesiredMemberships = ReadonlyMap<string, Desired>;

/** The snapshot the lifecycle layer reads, derived with the same column mapping the store uses. */
export function snapshotOfResource(user: UserResource): UserSnapshot {
  return { id: String(user.id ?? ""), ...toColumns(user) };
}

export function desiredMemberships(
  user: UserResource,
  policy: Policy,
  exceptions: readonly MembershipException[],
  now: Date,
  status: UserStatus = userStatus(snapshotOfResource(user), now),
): Map<string, Desired> {
  const out = new Map<string, Desired>();
  if (status === "leaver" || status === "prehire") return out;
  const inForce = strongestExceptions(user.id, exceptions, now);
  for (const group of policy.groups) {
    const block = inForce.get(`${group.name}\u0000block`);
    if (block) out.set(group.name, { reason: "exception", kind: "block", exceptionId: block.id });
    else if (conditionMatches(group.condition, user)) out.set(group.name, { reason: "rule", rule: group.name, policyVersion: policy.version });
    else {
      const exception = inForce.get(`${group.name}\u0000grant`) ?? inForce.get(`${group.name}\u0000keep`);
      if (exception) out.set(group.name, { reason: "exception", kind: exception.kind, exceptionId: exception.id });
    }
  }
  return out;
}

/** Groups the verdicts put the user in unconditionally (rule or grant) — keeps depend on current state. */
export function grantedGroups(desired: DesiredMemberships): string[] {
  return [...desired].filter(([, d]) => d.reason === "rule" || d.kind === "grant").map(([g]) => g).sort();
}

export const isInForce = (e: Pick<MembershipException, "expiresAt">, now: Date) =>
  e.expiresAt === undefined || e.expiresAt === null || e.expiresAt.getTime() > now.getTime();

// One exception per (group, kind): the longest-lived, then the smallest id, so the verdict — and thus the
// membership's recorded cause — does not flip between runs when two overlapping exceptions exist.
function strongestExceptions(userId: unknown, exceptions: readonly MembershipException[], now: Date) {
  const best = new Map<string, MembershipException>();
  const until = (e: MembershipException) => e.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  for (const e of exceptions) {
    if (e.userId !== userId || !isInForce(e, now)) continue;
    const key = `${e.group}\u0000${e.kind}`;
    const current = best.get(key);
    if (!current || until(e) > until(current) || (until(e) === until(current) && e.id < current.id)) best.set(key, e);
  }
  return best;
}
