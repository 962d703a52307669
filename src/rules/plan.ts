// What a policy change would do, per group, before it is applied: the pure oracle. The DB-backed planner
// computes the same population-wide in SQL; tests compare the two on the same data.
//
// The plan is the effect of the *change*, not of pre-existing drift: for each user we compute the outcome
// (visible memberships after the diff, and the privileged grants left waiting for review) under the old
// policy and under the new one, from the same current rows, and report the differences. So a policy
// planned against itself is empty whatever the store holds; drift is reconciliation's report, not this one.
import type { UserResource } from "../scim/user-resource.ts";
import { userStatus } from "../domain/classify.ts";
import { applyDiff, diffMemberships, type CurrentMembership } from "./diff.ts";
import { desiredMemberships, snapshotOfResource, type MembershipException } from "./evaluate.ts";
import type { Policy, PolicyGroup } from "./policy-loader.ts";

export interface GroupPlan {
  /** Users who become visible members. */
  gains: string[];
  /** Users who stop being visible members. */
  losses: string[];
  /** Users whose privileged grant newly waits for the owner's review. */
  reviews: string[];
}

export interface PolicyPlan {
  from: string;
  to: string;
  /** Only groups with at least one gain, loss or review; users sorted by id. */
  groups: Record<string, GroupPlan>;
  addedGroups: string[];
  removedGroups: string[];
  /** Declared in both, with these settings changed (when, privileged, portable, owner, description). */
  changedGroups: Array<{ name: string; changed: string[] }>;
}

export interface PlanOptions {
  now: Date;
  exceptions?: readonly MembershipException[];
}

export function planPolicyChange(
  oldPolicy: Policy,
  newPolicy: Policy,
  users: readonly UserResource[],
  currentMemberships: ReadonlyMap<string, readonly CurrentMembership[]>,
  options: PlanOptions,
): PolicyPlan {
  const exceptions = options.exceptions ?? [];
  const groups = new Map<string, GroupPlan>();
  const entry = (g: string) => groups.get(g) ?? groups.set(g, { gains: [], losses: [], reviews: [] }).get(g)!;

  for (const user of users) {
    const id = String(user.id);
    const current = currentMemberships.get(id) ?? [];
    const status = userStatus(snapshotOfResource(user), options.now);
    const outcome = (policy: Policy) => {
      const desired = desiredMemberships(user, policy, exceptions, options.now, status);
      const diff = diffMemberships(current, desired, policy, { status, transfer: false });
      return {
        visible: new Set(applyDiff(current, diff).map((m) => m.group)),
        reviews: new Set(diff.pendingReview.filter((r) => r.reason === "privileged").map((r) => r.group)),
      };
    };
    const before = outcome(oldPolicy);
    const after = outcome(newPolicy);
    for (const g of after.visible) if (!before.visible.has(g)) entry(g).gains.push(id);
    for (const g of before.visible) if (!after.visible.has(g)) entry(g).losses.push(id);
    for (const g of after.reviews) if (!before.reviews.has(g)) entry(g).reviews.push(id);
  }

  const sorted: Record<string, GroupPlan> = {};
  for (const name of [...groups.keys()].sort()) {
    const p = groups.get(name)!;
    sorted[name] = { gains: p.gains.sort(), losses: p.losses.sort(), reviews: p.reviews.sort() };
  }
  const oldNames = new Map(oldPolicy.groups.map((g) => [g.name, g]));
  const newNames = new Map(newPolicy.groups.map((g) => [g.name, g]));
  return {
    from: oldPolicy.version,
    to: newPolicy.version,
    groups: sorted,
    addedGroups: [...newNames.keys()].filter((n) => !oldNames.has(n)).sort(),
    removedGroups: [...oldNames.keys()].filter((n) => !newNames.has(n)).sort(),
    changedGroups: [...newNames.values()]
      .filter((g) => oldNames.has(g.name))
      .map((g) => ({ name: g.name, changed: changedSettings(oldNames.get(g.name)!, g) }))
      .filter((c) => c.changed.length > 0)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

const SETTINGS = ["when", "privileged", "portable", "owner", "description"] as const;
const changedSettings = (a: PolicyGroup, b: PolicyGroup) => SETTINGS.filter((k) => a[k] !== b[k]);

export const isEmptyPlan = (p: PolicyPlan) =>
  Object.keys(p.groups).length === 0 && p.addedGroups.length + p.removedGroups.length + p.changedGroups.length === 0;
