// Population-wide effect of a policy change (old → new), computed once and used twice: `plan` reports it,
// `apply` writes it — so the plan predicts exactly what the apply does (the scenario test checks the rows).
//
// 1. Which groups changed: added, removed, or with a different condition, privileged or portable flag.
// 2. Which users can be affected, in ONE SQL statement over scim_user: for each changed group, the new and
//    old conditions compiled to SQL (scim/filter-sql.ts compileFilter — the same semantics as the in-memory
//    matcher, agreement-tested) — a user is a candidate when they differ, when it matches a new group, or
//    when the user holds a broker row or an open exception for the group. The same statement returns, per
//    candidate, every new condition's verdict as a boolean column, so no condition runs in JavaScript.
// 3. Per candidate, in chunks: its rows and exceptions in the affected groups (by user_id) and the pure
//    engine (evaluate.ts + diff.ts) with those SQL verdicts — the very functions an HR write runs, so an
//    apply and a later HR event agree on what the user should have.
// With `lock`, candidates are locked FOR UPDATE in id order (apply): an HR write on one of them waits for the
// apply, and an HR write on anyone else cannot make them a candidate (the policy lock, policy-holder.ts).
import type pg from "pg";
import { compileFilter } from "../scim/filter-sql.ts";
import { desiredMemberships } from "../rules/evaluate.ts";
import { applyDiff, diffMemberships, type MembershipDiff } from "../rules/diff.ts";
import type { Policy, PolicyGroup } from "../rules/policy-loader.ts";
import { userStatus } from "../domain/classify.ts";
import { asEngineException, openExceptionsOf } from "./exception-store.ts";
import { frozenUsers } from "./event-store.ts";
import { groupIdsByName, membershipsOfUsers, type MemberRow } from "./membership-store.ts";
import { withLeaverManualRemovals } from "./user-lifecycle.ts";
import { holdsOfUsers } from "./data-quality-store.ts";
import { withoutRuleGrants } from "./data-quality.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface UserConvergence {
  userId: string;
  userName: string;
  current: MemberRow[];
  diff: MembershipDiff;
  /** groups the user becomes / stops being a visible member of */
  gained: string[];
  lost: string[];
}

export interface GroupChange { name: string; changed: string[] }
export interface PolicyDelta { added: string[]; removed: string[]; changed: GroupChange[] }

const SETTINGS = ["when", "privileged", "portable", "owner", "description"] as const;
const MEMBERSHIP_SETTINGS = new Set(["when", "privileged", "portable"]);

export function policyDelta(from: Policy, to: Policy): PolicyDelta {
  const before = new Map(from.groups.map((g) => [g.name, g]));
  const after = new Map(to.groups.map((g) => [g.name, g]));
  return {
    added: [...after.keys()].filter((n) => !before.has(n)).sort(),
    removed: [...before.keys()].filter((n) => !after.has(n)).sort(),
    changed: [...after.values()].filter((g) => before.has(g.name))
      .map((g) => ({ name: g.name, changed: SETTINGS.filter((k) => before.get(g.name)![k] !== g[k]) as string[] }))
      .filter((c) => c.changed.length > 0).sort((a, b) => (a.name < b.name ? -1 : 1)),
  };
}

const CHUNK = 2000;

export async function computeConvergence(q: Q, from: Policy, to: Policy, now: Date, opts: { lock: boolean }): Promise<UserConvergence[]> {
  const delta = policyDelta(from, to);
  const affected = [...delta.added, ...delta.removed, ...delta.changed.filter((c) => c.changed.some((k) => MEMBERSHIP_SETTINGS.has(k))).map((c) => c.name)];
  if (!affected.length) return [];
  // Only the affected groups are evaluated: the engine decides each group on its own (evaluate.ts, diff.ts),
  // so restricting policy, rows and exceptions to them gives exactly the full diff's rows for those groups —
  // the effect of the change — and leaves the other groups as they are.
  const scope = new Set(affected);
  const scoped = to.groups.filter((g) => scope.has(g.name));

  const params: unknown[] = [];
  const bind = (v: unknown) => { params.push(v); return `$${params.length}`; };
  const cond = (g: PolicyGroup) => {
    const c = compileFilter(g.condition.filter, "User", params.length + 1);
    params.push(...c.params);
    return `COALESCE((${c.sql}), FALSE)`;
  };
  const ids = await groupIdsByName(q, affected);
  // anySource: a newly managed group's manual members are candidates too (a leaver's must go).
  const hasRow = (name: string, anySource = false) => (ids.has(name)
    ? `u.id IN (SELECT gm.user_id FROM group_member gm WHERE gm.group_id = ${bind(ids.get(name))}::uuid${anySource ? "" : " AND gm.source <> 'manual'"})` : "FALSE");
  const hasException = (name: string) =>
    `u.id IN (SELECT e.user_id FROM membership_exception e WHERE e.group_name = ${bind(name)} AND e.revoked_at IS NULL AND e.expired_at IS NULL)`;

  // Every scoped condition's verdict for the candidate, as one '0'/'1' string (one column to parse per row).
  const verdicts = scoped.length ? scoped.map((g) => `CASE WHEN ${cond(g)} THEN '1' ELSE '0' END`).join(" || ") : "''";
  const parts: string[] = [];
  for (const name of affected) {
    const n = to.groupsByName[name], o = from.groupsByName[name];
    if (n && !o) parts.push(`${cond(n)} OR ${hasException(name)} OR ${hasRow(name, true)}`);
    else if (!n && o) parts.push(hasRow(name));
    else if (n && o) {
      if (n.when !== o.when) parts.push(`${cond(n)} <> ${cond(o)}`);
      if (n.privileged !== o.privileged || n.portable !== o.portable) parts.push(`${cond(n)} OR ${hasRow(name)}`);
    }
  }
  // Only what userStatus reads, beside the id, the name and the verdicts.
  const { rows } = await q.query(
    `SELECT u.id, u.user_name, u.active, u.employment_status, u.start_date, u.end_date, (${verdicts}) AS m
       FROM scim_user u WHERE ${parts.map((p) => `(${p})`).join(" OR ")}
      ORDER BY u.id${opts.lock ? " FOR UPDATE OF u" : ""}`, params);

  const sqlPolicy = withVerdicts(to, scoped);
  const groupIds = [...ids.values()];
  const out: UserConvergence[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const userIds = chunk.map((r) => r.id as string);
    const memberships = await membershipsOfUsers(q, userIds, groupIds);
    const exceptions = await openExceptionsOf(q, userIds, affected);
    const frozen = await frozenUsers(q, userIds);
    const shielded = await holdsOfUsers(q, userIds);
    const exceptionsOf = new Map<string, ReturnType<typeof asEngineException>[]>();
    for (const e of exceptions) exceptionsOf.set(e.userId, [...(exceptionsOf.get(e.userId) ?? []), asEngineException(e)]);
    for (const r of chunk) {
      const status = userStatus({ active: r.active, employmentStatus: r.employment_status, startDate: r.start_date, endDate: r.end_date }, now);
      if (status === "leaver" && frozen.has(r.id)) continue; // parked by the guard: entitlements wait for the review
      const held = shielded.get(r.id) ?? [];
      // The data-quality shield holds this user's memberships: its review (or HR's next change) decides them.
      if (status !== "leaver" && held.includes("memberships")) continue;
      const current = memberships.get(r.id) ?? [];
      const desired = desiredMemberships({ id: r.id, m: r.m }, sqlPolicy, exceptionsOf.get(r.id) ?? [], now, status);
      const computed = withLeaverManualRemovals(diffMemberships(current, desired, sqlPolicy, { status, transfer: false }), current, sqlPolicy, status);
      const diff = held.includes("grants") ? withoutRuleGrants(computed) : computed;
      if (!diff.add.length && !diff.remove.length && !diff.relabel.length && !diff.pendingReview.length) continue;
      const before = new Set(current.map((m) => m.group));
      const after = new Set(applyDiff(current, diff).map((m) => m.group));
      out.push({
        userId: r.id, userName: r.user_name, current, diff,
        gained: [...after].filter((g) => !before.has(g)).sort(), lost: [...before].filter((g) => !after.has(g)).sort(),
      });
    }
  }
  return out;
}

/** The policy restricted to the scoped groups, each condition answered by its character of the row's verdicts. */
function withVerdicts(policy: Policy, scoped: readonly PolicyGroup[]): Policy {
  const groups = scoped.map((g, i) => ({ ...g, condition: { ...g.condition, matches: (u: Record<string, unknown>) => (u.m as string).charCodeAt(i) === 49 /* "1" */ } }));
  const groupsByName: Record<string, PolicyGroup> = Object.create(null);
  for (const g of groups) groupsByName[g.name] = g;
  return { ...policy, groups, groupsByName };
}
