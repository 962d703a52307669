// Policy replay, pure (policy-replay.ts reads the records): "what would this policy have done last
// quarter?". The recorded HR change records of a window are fed, in order, through the same engine an HR
// write runs — classify.ts,
// the data-quality shield's decisions (data-quality.ts), evaluate.ts, diff.ts — twice: under the PROPOSED
// policy and under the policy versions that were ACTIVE at the time of each record. Each user's memberships
// are simulated in memory for both; the result is what differs.
//
// Per user, over the window:
//   gained   groups the proposed policy would have given the user at some point and the recorded ones did not;
//   lost     groups the recorded policies gave the user at some point and the proposed one would not have;
//   held     data-quality signals the proposed policy would have held on (and the recorded ones did not);
//   reviews  reviews the proposed policy would have raised and the recorded ones did not
//            ("privileged-grant:<group>", "mover:<group>", "data-quality").
//
// Deliberate simplifications, stated in the README: a user first seen in the window starts, under each
// policy, from what that policy grants its `before` snapshot (its steady state); reviews are never decided
// inside the replay (a privileged grant stays pending, a hold stays until the user's data clears it); rules
// read the attributes a change record keeps (the HR and identity attributes of user-changes.ts), so a
// condition on another attribute (emails, phoneNumbers) sees it absent; the identity-clash signal needs the
// rest of the population and is not replayed.
import { classifyChange, userStatus, type UserStatus } from "../domain/classify.ts";
import { detectSignals, planShield, shieldConfig, withoutRuleGrants, type DqSnapshot, type HoldKind } from "./data-quality.ts";
import { ENTERPRISE_SCHEMA, HR_SCHEMA, USER_SCHEMA } from "../scim/schemas.ts";
import { applyDiff, classificationOf, diffMemberships, type CurrentMembership } from "../rules/diff.ts";
import { desiredMemberships, grantedGroups, type Desired, type MembershipException } from "../rules/evaluate.ts";
import type { Policy } from "../rules/policy-loader.ts";

/** A change_record snapshot as stored (scim/user-changes.ts: dates as ISO strings). */
export interface RecordedSnapshot {
  id: string; userName: string; externalId?: string | null; active: boolean; displayName?: string | null;
  userType: string | null; title: string | null; department: string | null; costCenter: string | null;
  division: string | null; organization: string | null; employeeNumber?: string | null; managerId: string | null;
  sponsorId: string | null; location: string | null; employmentStatus: string | null;
  startDate: string | null; endDate: string | null;
}

export interface ReplayRecord {
  userId: string;
  at: Date;
  before: RecordedSnapshot | null;
  after: RecordedSnapshot | null;
  source: string | null;
}

/** An exception of the register with its lifetime, so the replay applies it only while it was in force. */
export interface ReplayException extends MembershipException { createdAt: Date; closedAt: Date | null }

export interface ReplayDifference { userId: string; userName: string; gained: string[]; lost: string[]; held: string[]; reviews: string[] }
export interface ReplaySummary { users: number; usersReplayed: number; changes: number; gained: number; lost: number; held: number; reviews: number }

// One simulation of one user: its broker rows (rule and exception, as group_member holds them), lifecycle
// status, when it last left, its data-quality hold, and what it held and asked for review.
interface Sim {
  rows: readonly CurrentMembership[]; status: UserStatus | null; leftAt: Date | null; holds: readonly HoldKind[]; heldData: Snap | null;
  held?: Set<string>; reviews?: Set<string>;
  /** the inputs of the last diff that changed nothing: the same inputs give the same (empty) diff again */
  settled?: { rows: readonly CurrentMembership[]; desired: ReadonlyMap<string, Desired>; key: string };
}
interface UserState { userName: string; a: Sim; b: Sim; gained?: Set<string>; lost?: Set<string> }

const NO_HOLDS: readonly HoldKind[] = Object.freeze([]);
const EMPTY: ReadonlyMap<string, Desired> = new Map();
const date = (v: string | null | undefined) => (v ? new Date(v) : null);

type Snap = DqSnapshot & { userName: string; externalId: string | null; displayName: string | null };

function snapshot(s: RecordedSnapshot): Snap {
  return {
    id: s.id, active: s.active, userType: s.userType, title: s.title, department: s.department, costCenter: s.costCenter,
    division: s.division, organization: s.organization, managerId: s.managerId, sponsorId: s.sponsorId, location: s.location,
    employmentStatus: s.employmentStatus, startDate: date(s.startDate), endDate: date(s.endDate), employeeNumber: s.employeeNumber ?? null,
    userName: s.userName, externalId: s.externalId ?? null, displayName: s.displayName ?? null,
  };
}

// Where each attribute a condition may read lives in a snapshot (canonical paths, lower-cased).
const FIELD_OF = new Map<string, keyof Snap>([
  ["id", "id"], ["username", "userName"], ["externalid", "externalId"], ["displayname", "displayName"], ["active", "active"],
  ["usertype", "userType"], ["title", "title"],
  ...(["department", "costCenter", "division", "organization", "employeeNumber"] as const).map((a) => [`${ENTERPRISE_SCHEMA}:${a}`.toLowerCase(), a] as [string, keyof Snap]),
  [`${ENTERPRISE_SCHEMA}:manager`.toLowerCase(), "managerId"], [`${ENTERPRISE_SCHEMA}:manager.value`.toLowerCase(), "managerId"],
  ...(["employmentStatus", "startDate", "endDate", "location"] as const).map((a) => [`${HR_SCHEMA}:${a}`.toLowerCase(), a] as [string, keyof Snap]),
  [`${HR_SCHEMA}:sponsor`.toLowerCase(), "sponsorId"], [`${HR_SCHEMA}:sponsor.value`.toLowerCase(), "sponsorId"],
]);

/**
 * The verdicts of one policy, memoised by what its conditions read. Many records share the same values of the
 * few attributes a policy reads (department, location, userType, …), so most evaluations are a Map look-up.
 * Attributes a change record does not keep are absent from every rebuilt resource, hence not part of the key;
 * verdicts depending on exceptions (which depend on the instant) are not memoised.
 */
class Verdicts {
  private readonly fields: Array<keyof Snap>;
  private readonly memo = new Map<string, Map<string, Desired>>();
  constructor(readonly policy: Policy) {
    const read = new Set<keyof Snap>();
    for (const g of policy.groups) for (const a of g.condition.attributes) { const f = FIELD_OF.get(a.toLowerCase()); if (f) read.add(f); }
    this.fields = [...read];
  }

  of(s: Snap, status: UserStatus, exceptions: readonly MembershipException[], at: Date): Map<string, Desired> {
    if (exceptions.length) return desiredMemberships(resourceOf(s), this.policy, exceptions, at, status);
    let key: string = status;
    for (const f of this.fields) { const v = s[f]; key += `\u0001${v instanceof Date ? v.getTime() : v ?? ""}`; }
    let d = this.memo.get(key);
    if (!d) {
      if (this.memo.size >= 500_000) this.memo.clear(); // conditions on per-user attributes (userName): bounded
      d = desiredMemberships(resourceOf(s), this.policy, [], at, status);
      this.memo.set(key, d);
    }
    return d;
  }
}

/** The SCIM resource a condition reads, rebuilt from a snapshot (the attributes a change record keeps). */
function resourceOf(s: Snap): Record<string, unknown> {
  const ent: Record<string, unknown> = {}, hr: Record<string, unknown> = {};
  if (s.department !== null) ent.department = s.department;
  if (s.costCenter !== null) ent.costCenter = s.costCenter;
  if (s.division !== null) ent.division = s.division;
  if (s.organization !== null) ent.organization = s.organization;
  if (s.employeeNumber) ent.employeeNumber = s.employeeNumber;
  if (s.managerId !== null) ent.manager = { value: s.managerId };
  if (s.employmentStatus !== null) hr.employmentStatus = s.employmentStatus;
  if (s.startDate) hr.startDate = s.startDate.toISOString();
  if (s.endDate) hr.endDate = s.endDate.toISOString();
  if (s.location !== null) hr.location = s.location;
  if (s.sponsorId !== null) hr.sponsor = { value: s.sponsorId };
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA, HR_SCHEMA], id: s.id, userName: s.userName, active: s.active,
    ...(s.externalId !== null ? { externalId: s.externalId } : {}), ...(s.displayName !== null ? { displayName: s.displayName } : {}),
    ...(s.userType !== null ? { userType: s.userType } : {}), ...(s.title !== null ? { title: s.title } : {}),
    [ENTERPRISE_SCHEMA]: ent, [HR_SCHEMA]: hr,
  };
}

export class PolicyReplay {
  private readonly users = new Map<string, UserState>();
  private changes = 0;
  private readonly exceptionsOf = new Map<string, ReplayException[]>();
  private readonly verdicts = new Map<Policy, Verdicts>();

  /**
   * @param proposed the policy to try
   * @param recorded the policy active at an instant (the latest policy_version applied at or before it)
   */
  constructor(private readonly proposed: Policy, private readonly recorded: (at: Date) => Policy, exceptions: readonly ReplayException[] = []) {
    for (const e of exceptions) {
      const list = this.exceptionsOf.get(e.userId);
      if (list) list.push(e); else this.exceptionsOf.set(e.userId, [e]);
    }
  }

  /** Feeds one change record; records must come in the order they were written. */
  apply(r: ReplayRecord): void {
    this.changes++;
    const before = r.before ? snapshot(r.before) : null;
    const after = r.after ? snapshot(r.after) : null;
    const userName = (after ?? before)?.userName ?? r.userId;
    const exceptions = this.exceptionsAt(r.userId, r.at);
    const proposed = this.verdictsOf(this.proposed), recorded = this.verdictsOf(this.recorded(r.at));
    let u = this.users.get(r.userId);
    if (!u) {
      const start = (v: Verdicts): Sim => ({ rows: before ? initialRows(v, before, exceptions, r.at) : [], status: before ? userStatus(before, r.at) : null, leftAt: null, holds: NO_HOLDS, heldData: null });
      u = { userName, a: start(proposed), b: start(recorded) };
      this.users.set(r.userId, u);
    }
    u.userName = userName;
    const events = classifyChange(before, after, r.at);
    step(u.a, proposed, before, after, events, exceptions, r);
    step(u.b, recorded, before, after, events, exceptions, r);
    const a = visible(u.a.rows), b = visible(u.b.rows);
    for (const g of a) if (!b.includes(g)) (u.gained ??= new Set()).add(g);
    for (const g of b) if (!a.includes(g)) (u.lost ??= new Set()).add(g);
  }

  result(limit = Number.POSITIVE_INFINITY): { differences: ReplayDifference[]; truncated: boolean; summary: ReplaySummary } {
    const all: ReplayDifference[] = [];
    for (const [userId, u] of this.users) {
      const only = (a?: Set<string>, b?: Set<string>) => [...(a ?? [])].filter((x) => !b?.has(x)).sort();
      const d = { userId, userName: u.userName, gained: [...(u.gained ?? [])].sort(), lost: [...(u.lost ?? [])].sort(), held: only(u.a.held, u.b.held), reviews: only(u.a.reviews, u.b.reviews) };
      if (d.gained.length + d.lost.length + d.held.length + d.reviews.length) all.push(d);
    }
    all.sort((x, y) => (x.userName < y.userName ? -1 : x.userName > y.userName ? 1 : 0));
    const sum = (k: "gained" | "lost" | "held" | "reviews") => all.reduce((n, d) => n + d[k].length, 0);
    return {
      differences: all.slice(0, limit), truncated: all.length > limit,
      summary: { users: all.length, usersReplayed: this.users.size, changes: this.changes, gained: sum("gained"), lost: sum("lost"), held: sum("held"), reviews: sum("reviews") },
    };
  }

  private verdictsOf(p: Policy): Verdicts {
    let v = this.verdicts.get(p);
    if (!v) this.verdicts.set(p, (v = new Verdicts(p)));
    return v;
  }

  private exceptionsAt(userId: string, at: Date): MembershipException[] {
    const list = this.exceptionsOf.get(userId);
    if (!list) return [];
    const t = at.getTime();
    return list.filter((e) => e.createdAt.getTime() <= t && (e.closedAt === null || e.closedAt.getTime() > t));
  }
}

const visible = (rows: readonly CurrentMembership[]) => rows.map((m) => m.group);

/** What a policy grants a snapshot in its steady state (privileged grants as if approved earlier). */
function initialRows(v: Verdicts, s: Snap, exceptions: readonly MembershipException[], at: Date): CurrentMembership[] {
  const desired = v.of(s, userStatus(s, at), exceptions, at);
  return grantedGroups(desired).map((group) => {
    const d = desired.get(group)!;
    return d.reason === "rule"
      ? { group, source: "rule" as const, cause: { rule: d.rule, policyVersion: d.policyVersion } }
      : { group, source: "exception" as const, cause: { exceptionId: d.exceptionId, kind: "grant" as const } };
  });
}

/** One change under one policy: the same decisions as user-lifecycle.ts, on the simulated rows. */
function step(sim: Sim, v: Verdicts, before: Snap | null, after: Snap | null, events: ReturnType<typeof classifyChange>,
  exceptions: readonly MembershipException[], r: ReplayRecord): void {
  const p = v.policy;
  let status: UserStatus = after ? userStatus(after, r.at) : "leaver";
  let evaluate = after;
  let grantsHeld = false;
  const dq = shieldConfig(p.dataQuality, sim.holds.length > 0);
  if (dq) {
    const heldMemberships = sim.holds.includes("memberships");
    const signals = detectSignals({
      config: dq, before, after, baseline: heldMemberships ? sim.heldData : before, events, wasLeaver: sim.status === "leaver",
      lastLeftAt: sim.leftAt, identity: null, heldMemberships, source: r.source, now: r.at,
    });
    const plan = planShield({ config: dq, signals, existing: sim.holds.length ? { holds: sim.holds, state: "held" } : null, after, hrChange: true, now: r.at });
    for (const s of signals) if (s.holds && plan.holds.includes(s.holds)) (sim.held ??= new Set()).add(s.name);
    if (plan.review) (sim.reviews ??= new Set()).add("data-quality");
    if (plan.holds.includes("memberships")) sim.heldData = heldMemberships ? sim.heldData : before;
    else sim.heldData = null;
    sim.holds = plan.holds.length ? plan.holds : NO_HOLDS;
    if (plan.keepLeaver) status = "leaver";
    if (sim.heldData) evaluate = sim.heldData;
    grantsHeld = plan.holds.includes("grants");
  }
  const current = sim.rows;
  const desired = evaluate ? v.of(evaluate, status, exceptions, r.at) : EMPTY;
  const classification = classificationOf(status, events);
  const key = `${status}:${classification.transfer}:${grantsHeld}`;
  if (!(sim.settled && sim.settled.rows === current && sim.settled.desired === desired && sim.settled.key === key)) {
    let diff = diffMemberships(current, desired, p, classification);
    if (grantsHeld) diff = withoutRuleGrants(diff);
    for (const q of diff.pendingReview) (sim.reviews ??= new Set()).add(`${q.reason === "privileged" ? "privileged-grant" : "mover"}:${q.group}`);
    if (diff.add.length || diff.remove.length || diff.relabel.length) { sim.rows = applyDiff(current, diff); sim.settled = undefined; }
    else sim.settled = { rows: current, desired, key };
  }
  if (status === "leaver" && sim.status !== "leaver") sim.leftAt = r.at;
  sim.status = status;
}
