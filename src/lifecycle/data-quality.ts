// The data-quality shield, pure: which signals an HR change raises, and what is held.
// The lifecycle use case gathers the few facts that need the database (when the user last left, other users
// with its employeeNumber, its manager) and applies the plan (data-quality-step.ts).
//
// The shield is asymmetric. It NEVER delays taking access away: a leaver is applied at once (only the
// mass-deprovision guard can hold a leaver), an inconsistent record fails closed (it is a leaver), and removals
// of a mover go through — except when the mover's new value is unknown, because then the removal is as
// suspect as the grant. It holds GIVING access, until the user's one data-quality review is decided:
//
//   signal                         when                                                  held
//   unknown-value                  a mover's department/costCenter/location/userType     memberships: rules see
//                                  becomes blank or is not a known value                 the user as it was
//   flapping                       a leaver re-activated within flapping.within          reactivation: the account
//                                  of leaving                                            stays disabled
//   reactivation-without-rehire    a leaver re-activated without a new startDate after   reactivation
//                                  its endDate (or after it left)
//   inconsistent-record            active turned on for a terminated user, or status     nothing: already a leaver
//                                  set to active while disabled (fail closed)
//   future-termination             terminated with an endDate further ahead than         nothing: the leaver is
//                                  futureTermination.flagBeyond (30 days)                scheduled for endDate
//   identity-clash                 another user of the source has its employeeNumber,    grants: no rule grants
//                                  or its manager is unknown or has left
//
// With `action: flag` signals are recorded and counted, and nothing is held.
import { userStatus, type LifecycleEvent, type UserSnapshot } from "../domain/classify.ts";
import type { MembershipDiff } from "../rules/diff.ts";
import { KNOWN_VALUE_ATTRIBUTES, type DataQualityConfig, type KnownValueAttribute } from "../rules/data-quality-config.ts";

export const SIGNALS = [
  "unknown-value", "flapping", "reactivation-without-rehire", "inconsistent-record", "future-termination", "identity-clash",
] as const;
export type SignalName = (typeof SIGNALS)[number];

/** What a signal holds (see the table above); the order is the order of strength. */
export const HOLD_KINDS = ["reactivation", "memberships", "grants"] as const;
export type HoldKind = (typeof HOLD_KINDS)[number];

/** Defaults of the schema (policy-schema.ts), for a section that sets only some fields. */
export const DEFAULT_DATA_QUALITY: DataQualityConfig = Object.freeze({
  known: Object.freeze({}), flappingWithinMs: 3_600_000, futureTerminationFlagMs: 30 * 86_400_000, action: "hold",
});

const FLAG_ONLY: DataQualityConfig = Object.freeze({ ...DEFAULT_DATA_QUALITY, action: "flag" });

/**
 * The settings the shield runs a change with (the live lifecycle and policy replay alike): the policy's
 * section; with the section removed while the user is still held, `action: flag`, so the holds end at the
 * user's next HR change; null: nothing to shield.
 */
export const shieldConfig = (config: DataQualityConfig | null, held: boolean): DataQualityConfig | null => config ?? (held ? FLAG_ONLY : null);

export interface Signal { name: SignalName; evidence: Record<string, unknown>; holds: HoldKind | null }

/** A snapshot with the identity attributes the shield also reads. */
export type DqSnapshot = UserSnapshot & { employeeNumber?: string | null; userName?: string };

export interface IdentityFacts {
  /** userNames of other users of the same source with this user's employeeNumber */
  sameEmployeeNumber: readonly string[];
  /** the manager reference, when it names nobody or a leaver */
  manager: { value: string; problem: "unknown" | "left" } | null;
}

export interface SignalInput {
  config: DataQualityConfig;
  /** the stored user before the change (null: created) */
  before: DqSnapshot | null;
  /** as HR sent it (null: deleted) */
  after: DqSnapshot | null;
  /** what the rules last saw: the held snapshot while memberships are held, else `before` */
  baseline: DqSnapshot | null;
  events: readonly LifecycleEvent[];
  /** the user was a leaver before this change (its recorded lifecycle state) */
  wasLeaver: boolean;
  /** when it last became a leaver (its latest leaver event), for flapping */
  lastLeftAt: Date | null;
  /** looked up only when needsIdentityFacts says so */
  identity: IdentityFacts | null;
  /** a memberships hold is in place: unknown values are checked against `baseline` on every change */
  heldMemberships: boolean;
  source: string | null;
  now: Date;
}

const lower = (v: string | null | undefined) => (v ?? "").trim().toLowerCase();
const time = (d: Date | null | undefined) => (d ? d.getTime() : null);
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** The change makes a leaver present again (before the shield holds it). */
export const isReactivation = (after: DqSnapshot | null, wasLeaver: boolean, now: Date) =>
  !!after && wasLeaver && userStatus(after, now) !== "leaver";

/** Which identity look-ups the change needs: on create, when the attribute changed, or while grants are held. */
export function needsIdentityFacts(before: DqSnapshot | null, after: DqSnapshot | null, now: Date, grantsHeld: boolean) {
  if (!after || userStatus(after, now) === "leaver") return { employeeNumber: false, manager: false };
  return {
    employeeNumber: !!after.employeeNumber && (grantsHeld || !before || before.employeeNumber !== after.employeeNumber),
    manager: !!after.managerId && (grantsHeld || !before || before.managerId !== after.managerId),
  };
}

/**
 * Inconsistent status: "terminated" while active=true (an effective termination: no endDate ahead), or
 * "active" while active=false. Either way the user is a leaver (classify.ts) — the shield only says so.
 */
export function inconsistency(s: DqSnapshot, now: Date): "terminated-but-active" | "active-but-disabled" | null {
  const status = lower(s.employmentStatus);
  if (status === "terminated" && s.active && userStatus(s, now) === "leaver") return "terminated-but-active";
  if (status === "active" && !s.active) return "active-but-disabled";
  return null;
}

/** A new startDate, later than the previous one and than the end of the previous employment. */
export function hasRehireSignal(before: DqSnapshot | null, after: DqSnapshot, lastLeftAt: Date | null): boolean {
  const start = time(after.startDate);
  if (start === null) return false;
  const previousStart = time(before?.startDate);
  if (previousStart !== null && start <= previousStart) return false;
  const ended = time(before?.endDate) ?? time(lastLeftAt);
  return ended === null || start > ended;
}

// Known values compared case-insensitively (as conditions compare them), lowered once per list.
const loweredLists = new WeakMap<readonly string[], ReadonlySet<string>>();
function loweredSet(list: readonly string[]): ReadonlySet<string> {
  let set = loweredLists.get(list);
  if (!set) loweredLists.set(list, (set = new Set(list.map(lower))));
  return set;
}

function unknownValue(config: DataQualityConfig, a: KnownValueAttribute, after: DqSnapshot, baseline: DqSnapshot | null): Signal | null {
  const known = config.known[a];
  if (!known) return null;
  const value = after[a];
  const v = lower(value);
  if (baseline && lower(baseline[a]) === v) return null; // unchanged since the rules last saw it
  if (v !== "" && loweredSet(known).has(v)) return null;
  return { name: "unknown-value", holds: "memberships", evidence: { attribute: a, value: value ?? null, blank: lower(value) === "", known: known.slice(0, 20) } };
}

export function detectSignals(i: SignalInput): Signal[] {
  const { config, after, before, now } = i;
  if (!after) return [];
  const out: Signal[] = [];

  // Only when this change made the contradiction: `active` turned on for a terminated user, or the status
  // set to "active" for a disabled one (or a new record so). A plain termination or deactivation leaves the
  // other attribute stale for a moment — that is the normal shape of an HR PATCH, not a contradiction.
  const inconsistent = inconsistency(after, now);
  const made = inconsistent === "terminated-but-active" ? !before || !before.active : !before || lower(before.employmentStatus) !== "active";
  if (inconsistent && made && !(before && inconsistency(before, now) === inconsistent))
    out.push({ name: "inconsistent-record", holds: null, evidence: { kind: inconsistent, employmentStatus: after.employmentStatus, active: after.active, treatedAs: "leaver" } });

  if (userStatus(after, now) === "leaver") return out; // a leaver is never held

  // A termination dated ahead is scheduled for its endDate (classify.ts); far ahead, it is worth a look.
  const terminated = (s: DqSnapshot | null) => !!s && lower(s.employmentStatus) === "terminated";
  const ahead = after.endDate ? after.endDate.getTime() - now.getTime() : 0;
  if (terminated(after) && ahead > config.futureTerminationFlagMs && !(terminated(before) && time(before!.endDate) === time(after.endDate)))
    out.push({ name: "future-termination", holds: null, evidence: { endDate: iso(after.endDate), daysAhead: Math.floor(ahead / 86_400_000), scheduledFor: iso(after.endDate) } });

  if (i.wasLeaver) {
    const since = i.lastLeftAt ? now.getTime() - i.lastLeftAt.getTime() : null;
    if (since !== null && since <= config.flappingWithinMs)
      out.push({ name: "flapping", holds: "reactivation", evidence: { leftAt: iso(i.lastLeftAt), reactivatedAfterMs: since, withinMs: config.flappingWithinMs } });
    if (!hasRehireSignal(before, after, i.lastLeftAt))
      out.push({ name: "reactivation-without-rehire", holds: "reactivation", evidence: { startDate: iso(after.startDate), previousStartDate: iso(before?.startDate), endDate: iso(before?.endDate), leftAt: iso(i.lastLeftAt) } });
  }

  if (i.heldMemberships || i.events.some((e) => e.kind === "mover")) {
    for (const a of KNOWN_VALUE_ATTRIBUTES) {
      const s = unknownValue(config, a, after, i.baseline);
      if (s) out.push(s);
    }
  }

  if (i.identity?.sameEmployeeNumber.length)
    out.push({ name: "identity-clash", holds: "grants", evidence: { attribute: "employeeNumber", value: after.employeeNumber ?? null, source: i.source, users: [...i.identity.sameEmployeeNumber] } });
  if (i.identity?.manager)
    out.push({ name: "identity-clash", holds: "grants", evidence: { attribute: "manager", value: i.identity.manager.value, problem: i.identity.manager.problem } });
  return out;
}

export interface ExistingHold { holds: readonly HoldKind[]; state: "held" | "kept" }

export interface ShieldPlan {
  /** holds in place after this change (empty: none) */
  holds: HoldKind[];
  /** the user's data-quality review is raised (or, pending, refreshed with these signals) */
  review: boolean;
  /** an existing hold ends (its pending review is cancelled unless `review`) */
  release: boolean;
  /** a held re-activation: the user stays the leaver it was (account disabled, no memberships) */
  keepLeaver: boolean;
}

/**
 * What the shield does with the signals of a change. `hrChange`: an HR write (signals are about HR data);
 * other triggers (schedule, exception, review, policy) leave holds as they are — unless the user has left.
 */
export function planShield(p: { config: DataQualityConfig; signals: readonly Signal[]; existing: ExistingHold | null; after: DqSnapshot | null; hrChange: boolean; now: Date }): ShieldPlan {
  const { config, signals, existing, after, now } = p;
  const existingHolds = existing?.holds ?? [];
  const flagged = config.action === "hold" && signals.length > 0;
  // A held re-activation is stored disabled; that alone does not make the user a (new) leaver.
  const heldDisabled = existingHolds.includes("reactivation") && !!after && userStatus({ ...after, active: true }, now) !== "leaver";
  if (!after || (userStatus(after, now) === "leaver" && !heldDisabled))
    return { holds: [], review: flagged, release: existing !== null, keepLeaver: false };
  if (!p.hrChange) return { holds: [...existingHolds], review: false, release: false, keepLeaver: existingHolds.includes("reactivation") };
  if (config.action === "flag") return { holds: [], review: false, release: existing !== null, keepLeaver: false };
  const wanted = new Set<HoldKind>(signals.flatMap((s) => (s.holds ? [s.holds] : [])));
  if (existingHolds.includes("reactivation")) wanted.add("reactivation"); // only a decision releases a held re-activation
  const holds = HOLD_KINDS.filter((h) => wanted.has(h));
  return { holds, review: flagged, release: existing !== null && holds.length === 0, keepLeaver: wanted.has("reactivation") };
}

/**
 * Groups a held change concerns, whose owners decide the review: for memberships, the groups whose rule
 * verdict differs between what the rules last saw and what HR sent; for a re-activation or held grants, the
 * groups HR's data would grant.
 */
export function concernedGroups(
  groups: ReadonlyArray<{ name: string; condition: { matches(u: Record<string, unknown>): boolean } }>,
  holds: readonly HoldKind[], baseline: Record<string, unknown> | null, after: Record<string, unknown>,
): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const now = g.condition.matches(after);
    if ((holds.includes("memberships") && baseline && g.condition.matches(baseline) !== now) || ((holds.includes("reactivation") || holds.includes("grants")) && now))
      out.push(g.name);
  }
  return out;
}

/** Identity clash: rule grants (and privileged grants that would ask for review) wait; removals go through. */
export function withoutRuleGrants(diff: MembershipDiff): MembershipDiff {
  return { ...diff, add: diff.add.filter((a) => a.source !== "rule"), pendingReview: diff.pendingReview.filter((r) => r.reason !== "privileged") };
}
