// Policy as code: validate, plan and apply broker.yaml.
//
// apply = record + converge, in two transactions:
//   1. record: under the policy lock (EXCLUSIVE; HR transactions hold it SHARED while they derive
//      memberships) insert the policy_version row, create the managed groups (they exist in SCIM /Groups
//      from now on, members or not) and unmark the ones the policy dropped. Short: it touches no user.
//   2. converge: from the last converged version to the latest, the candidates' memberships are recomputed
//      (convergence.ts) and written in batches, with reviews, audit rows and the fan-out outbox; the version
//      is marked converged in the same transaction. A crash between 1 and 2 is finished by the next start
//      (or apply), because the unconverged version is still there.
// Splitting them is what keeps HR writes from deadlocking with an apply: (1) waits only for transactions
// holding the shared lock, never for user rows; (2) holds no policy lock while it locks user rows.
// plan = the same computation as (2), read-only, from the last converged version to the given file.
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import { addMembers, removeMembers } from "../store/group-repository.ts";
import type { Clock } from "../domain/clock.ts";
import type { Policy } from "../rules/policy-loader.ts";
import type { MembershipCause } from "../rules/diff.ts";
import { PolicyHolder, LOCKS } from "./policy-holder.ts";
import type { LifecycleContext } from "./user-lifecycle.ts";
import { AuditTrail, membershipCause } from "./audit-trail.ts";
import { computeConvergence, policyDelta, type GroupChange, type UserConvergence } from "./convergence.ts";
import { insertPolicyVersion, latestPolicyVersion, markConverged, type PolicyVersionRow } from "./policy-store.ts";
import { ensureManagedGroups, groupIdsByName, relabelMembers, touchGroups, unmanageGroupsExcept } from "./membership-store.ts";
import { requestReviews, dedupeKey, type ReviewRequestInput } from "./review-store.ts";

export interface UserList { count: number; users: string[] }
export interface GroupPlanView { gains: UserList; losses: UserList; reviews: UserList }

export interface PolicyPlanView {
  from: string | null;
  to: string;
  file: string;
  /** the file is the active policy already */
  unchanged: boolean;
  addedGroups: string[];
  removedGroups: string[];
  changedGroups: GroupChange[];
  /** per group with any gain, loss or new privileged review: userNames, sorted */
  groups: Record<string, GroupPlanView>;
  /** users whose rows change */
  users: number;
}

export interface PolicyApplyView extends PolicyPlanView { recorded: boolean; createdGroups: string[]; unmanagedGroups: string[] }

export class PolicyService {
  constructor(
    private readonly pool: pg.Pool, private readonly ctx: LifecycleContext, private readonly clock: Clock,
  ) {}

  get holder(): PolicyHolder { return this.ctx.policies; }

  /** Parses and validates (throws PolicyError with file:line:column issues). */
  validate(text: string, file: string): Policy { return this.holder.parse(text, file); }

  async plan(text: string, file: string): Promise<PolicyPlanView> {
    const to = this.validate(text, file);
    const now = this.clock.now();
    return withTransaction(this.pool, async (tx) => {
      await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const { policy: from, row } = await this.lastConverged(tx);
      const users = await computeConvergence(tx, from, to, now, { lock: false });
      return view(from, to, file, users, row);
    });
  }

  async apply(text: string, file: string, actor: string): Promise<PolicyApplyView> {
    const to = this.validate(text, file);
    const now = this.clock.now();
    const recorded = await withTransaction(this.pool, async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock($1, $2)`, [LOCKS.ns, LOCKS.policy]);
      const latest = await latestPolicyVersion(tx);
      const same = latest?.version === to.version;
      const row = same ? latest! : await insertPolicyVersion(tx, { version: to.version, yaml: text, file, appliedBy: actor, at: now });
      const names = to.groups.map((g) => g.name);
      const { changed: createdGroups } = await ensureManagedGroups(tx, names, now);
      const unmanagedGroups = await unmanageGroupsExcept(tx, names, now);
      if (!same) {
        const audit = new AuditTrail({ actor, policyVersion: to.version });
        audit.add("policy.applied", { details: { from: latest?.version ?? null, to: to.version, file, versionId: row.id, createdGroups, unmanagedGroups, ...deltaDetails(latest, to, this.holder) } });
        await audit.flush(tx, now);
      }
      return { inserted: !same, createdGroups, unmanagedGroups };
    });
    await this.holder.refresh(this.pool);
    const converged = await this.converge(actor);
    const result = converged ?? { ...view(to, to, file, [], null), unchanged: true };
    return { ...result, file, recorded: recorded.inserted, createdGroups: recorded.createdGroups, unmanagedGroups: recorded.unmanagedGroups };
  }

  /**
   * Converges memberships from the last converged version to the latest recorded one; null when there is
   * nothing to do. Serialised across processes by its own advisory lock.
   */
  async converge(actor: string): Promise<PolicyPlanView | null> {
    const now = this.clock.now();
    return withTransaction(this.pool, async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock($1, $2)`, [LOCKS.ns, LOCKS.converge]);
      const latest = await latestPolicyVersion(tx);
      if (!latest || latest.convergedAt) return null;
      const { policy: from, row: base } = await this.lastConverged(tx);
      const to = this.holder.parse(latest.yaml, latest.file ?? "(stored)");
      const t0 = performance.now();
      const users = await computeConvergence(tx, from, to, now, { lock: true });
      const t1 = performance.now();
      await this.write(tx, to, users, actor, now);
      await markConverged(tx, latest.id, now);
      this.ctx.log.info({ from: base?.version ?? null, to: to.version, users: users.length, computeMs: Math.round(t1 - t0), writeMs: Math.round(performance.now() - t1) }, "policy converged");
      return view(from, to, latest.file ?? "(stored)", users, base);
    });
  }

  private async lastConverged(q: pg.PoolClient): Promise<{ policy: Policy; row: PolicyVersionRow | null }> {
    const row = await latestPolicyVersion(q, { converged: true });
    return { row, policy: row ? this.holder.parse(row.yaml, row.file ?? "(stored)") : PolicyHolder.empty() };
  }

  /** Writes the convergence in batches: adds, relabels, removes; then reviews, versions, audit, fan-out. */
  private async write(tx: pg.PoolClient, policy: Policy, users: UserConvergence[], actor: string, now: Date): Promise<void> {
    const names = new Set<string>();
    for (const u of users) for (const d of [...u.diff.add, ...u.diff.relabel, ...u.diff.remove]) names.add(d.group);
    const ids = await groupIdsByName(tx, [...names]);
    for (const u of users) for (const m of u.current) ids.set(m.group, m.groupId);
    const missing = [...names].filter((n) => !ids.has(n));
    if (missing.length) for (const [n, id] of (await ensureManagedGroups(tx, missing, now)).ids) ids.set(n, id);

    const audit = new AuditTrail({ actor, policyVersion: policy.version });
    const adds = new Map<string, { groupId: string; source: "rule" | "exception"; cause: MembershipCause; users: string[] }>();
    const removes = new Map<string, { groupId: string; source: "rule" | "exception"; users: string[] }>();
    const relabels: Array<{ groupId: string; userId: string; source: string; cause: object }> = [];
    const reviews: Array<ReviewRequestInput & { userName: string }> = [];
    for (const u of users) {
      const before = new Set(u.current.map((m) => m.group));
      for (const a of u.diff.add) {
        const key = `${a.group}\u0000${a.source}\u0000${JSON.stringify(a.cause)}`;
        const entry = adds.get(key) ?? adds.set(key, { groupId: ids.get(a.group)!, source: a.source, cause: a.cause, users: [] }).get(key)!;
        entry.users.push(u.userId);
        audit.add("membership.added", { userId: u.userId, groupName: a.group, cause: membershipCause(a.cause), details: { source: a.source, visible: !before.has(a.group) } });
      }
      for (const r of u.diff.relabel) relabels.push({ groupId: ids.get(r.group)!, userId: u.userId, source: r.source, cause: r.cause });
      for (const r of u.diff.remove) {
        const key = `${r.group}\u0000${r.source}`;
        const entry = removes.get(key) ?? removes.set(key, { groupId: ids.get(r.group)!, source: r.source, users: [] }).get(key)!;
        entry.users.push(u.userId);
        const row = u.current.find((m) => m.group === r.group && m.source === r.source);
        audit.add("membership.removed", { userId: u.userId, groupName: r.group, cause: membershipCause(row?.cause), details: { source: r.source, visible: u.lost.includes(r.group) } });
      }
      for (const p of u.diff.pendingReview)
        reviews.push({ kind: p.reason === "privileged" ? "privileged-grant" : "mover", userId: u.userId, group: p.group, owner: p.owner ?? null, payload: { userName: u.userName, cause: p.cause }, userName: u.userName });
    }
    const phase = phases();
    for (const a of adds.values()) await addMembers(tx, a.groupId, a.users, a.source, a.cause);
    phase("add");
    await relabelMembers(tx, relabels);
    for (const r of removes.values()) await removeMembers(tx, r.groupId, r.users, r.source);
    phase("relabel+remove");
    const created = new Map((await requestReviews(tx, reviews, now)).map((r) => [r.key, r.id]));
    for (const r of reviews) {
      const reviewId = created.get(dedupeKey(r));
      if (reviewId) audit.add("review.created", { userId: r.userId ?? undefined, groupName: r.group ?? undefined, cause: { reviewId }, details: { kind: r.kind } });
    }

    const changed = new Map<string, { added: string[]; removed: string[] }>();
    const entry = (g: string) => changed.get(g) ?? changed.set(g, { added: [], removed: [] }).get(g)!;
    for (const u of users) { for (const g of u.gained) entry(g).added.push(u.userId); for (const g of u.lost) entry(g).removed.push(u.userId); }
    phase("reviews");
    // Groups' versions move (members are part of a Group). Users' do not here: their `groups` attribute is
    // derived, and rewriting every changed user row (every index entry of scim_user) would double the cost of
    // a broad apply — measured 4–7 s for 90,000 users. Single-user re-evaluations do bump it (touchUsers).
    await touchGroups(tx, [...changed.keys()].map((g) => ids.get(g)!), now);
    phase("versions");
    // One append per 10,000 events keeps each statement's parameter arrays reasonable.
    for (let i = 0; i < audit.inputs.length; i += 10_000) {
      const part = new AuditTrail({});
      part.inputs.push(...audit.inputs.slice(i, i + 10_000));
      await part.flush(tx, now);
    }
    phase("audit");
    for (const [group, c] of changed)
      await this.ctx.fanout.membershipChanged(tx, { groupId: ids.get(group)!, groupName: group, added: c.added, removed: c.removed, at: now });
    phase("fanout");
    this.ctx.log.debug({ phases: phase.done() }, "policy converge write");
  }
}

/** Elapsed ms per named phase, for the converge's debug log. */
function phases() {
  const out: Record<string, number> = {};
  let t = performance.now();
  const mark = (name: string) => { const now = performance.now(); out[name] = Math.round(now - t); t = now; };
  return Object.assign(mark, { done: () => out });
}

function view(from: Policy, to: Policy, file: string, users: UserConvergence[], base: PolicyVersionRow | null): PolicyPlanView {
  const delta = policyDelta(from, to);
  const groups = new Map<string, { gains: string[]; losses: string[]; reviews: string[] }>();
  const entry = (g: string) => groups.get(g) ?? groups.set(g, { gains: [], losses: [], reviews: [] }).get(g)!;
  for (const u of users) {
    for (const g of u.gained) entry(g).gains.push(u.userName);
    for (const g of u.lost) entry(g).losses.push(u.userName);
    for (const r of u.diff.pendingReview) if (r.reason === "privileged") entry(r.group).reviews.push(u.userName);
  }
  const list = (xs: string[]): UserList => ({ count: xs.length, users: xs.sort() });
  const out: Record<string, GroupPlanView> = {};
  for (const name of [...groups.keys()].sort()) {
    const g = groups.get(name)!;
    out[name] = { gains: list(g.gains), losses: list(g.losses), reviews: list(g.reviews) };
  }
  return {
    from: base?.version ?? null, to: to.version, file, unchanged: (base?.version ?? null) === to.version,
    addedGroups: delta.added, removedGroups: delta.removed, changedGroups: delta.changed, groups: out, users: users.length,
  };
}

function deltaDetails(latest: PolicyVersionRow | null, to: Policy, holder: PolicyHolder) {
  try {
    const from = latest ? holder.parse(latest.yaml, latest.file ?? "(stored)") : PolicyHolder.empty();
    const d = policyDelta(from, to);
    return { addedGroups: d.added, removedGroups: d.removed, changedGroups: d.changed };
  } catch { return {}; }
}
