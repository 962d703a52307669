// Joiner / mover / leaver classification of one HR change, pure and deterministic: the
// user write hook calls it with the row before and after the write and records what it returns as
// lifecycle events; the scheduler calls it again at a start or end date (before = after = the row).
//
// Statuses first, events second: every snapshot has exactly one lifecycle status at an instant, and an
// event is a status transition (joiner, leaver, leave, return, rehire) or, within the active status, an
// attribute change (mover, conversion). That makes precedence a property of the table below instead of an
// order of if-statements: a termination that also changes the department is a leaver only, because the
// status changed to "leaver" and mover is only looked for between two non-leaver states.

/**
 * The HR-relevant attributes of a user. Structurally a subset of the store's UserRow, so rows are passed
 * as they are; dates are instants (endDate = the instant access ends, see userStatus).
 */
export interface UserSnapshot {
  id: string;
  active: boolean;
  userType: string | null;
  title: string | null;
  department: string | null;
  costCenter: string | null;
  division: string | null;
  organization: string | null;
  managerId: string | null;
  sponsorId: string | null;
  location: string | null;
  employmentStatus: string | null;
  startDate: Date | null;
  endDate: Date | null;
}

/** What the status reads (so a store row's few columns are enough to judge a manager or a candidate). */
export type StatusFields = Pick<UserSnapshot, "active" | "employmentStatus" | "startDate" | "endDate">;

/** Lifecycle status at an instant. Memberships: active → rules; leave → frozen; prehire, leaver → none. */
export type UserStatus = "active" | "prehire" | "leave" | "leaver";

export type LeaverReason = "deleted" | "terminated" | "end-date" | "deactivated";

/** Attributes whose change makes a mover (issue: department, cost centre, manager, title, location, userType). */
export const MOVER_ATTRIBUTES = ["department", "costCenter", "managerId", "title", "location", "userType"] as const;
export type MoverAttribute = (typeof MOVER_ATTRIBUTES)[number];

export type ReviewFlag =
  | { kind: "contractor-without-end-date" }
  | { kind: "service-account-without-owner" }
  /** This user left or moved: service accounts it owns (sponsorId/managerId = its id) need a new owner's review. */
  | { kind: "owned-service-accounts"; because: "owner-left" | "owner-moved" };

export type LifecycleEvent =
  | { kind: "joiner" }
  | { kind: "prehire"; startAt: Date | null; rehire: boolean }
  | { kind: "mover"; changed: MoverAttribute[] }
  | { kind: "conversion"; from: string | null; to: string | null }
  | { kind: "leaver"; reason: LeaverReason }
  | { kind: "leave" }
  | { kind: "return" }
  | { kind: "rehire" }
  | { kind: "review"; flag: ReviewFlag };

const lower = (v: string | null) => (v ?? "").trim().toLowerCase();
export const isContractor = (s: Pick<UserSnapshot, "userType">) => lower(s.userType) === "contractor";
export const isEmployee = (s: Pick<UserSnapshot, "userType">) => lower(s.userType) === "employee";
export const isServiceAccount = (s: Pick<UserSnapshot, "userType">) => lower(s.userType) === "service";
const after = (d: Date | null, now: Date) => d !== null && d.getTime() > now.getTime();

/**
 * The one status of a snapshot at `now`, in this precedence:
 *  1. employmentStatus "terminated" → leaver (even before the start date: a withdrawn offer) — unless it is
 *     dated ahead (endDate in the future) for someone who has started: then it is scheduled for endDate;
 *  2. endDate reached (now ≥ endDate: endDate is the instant access ends; HR feeds that send a day send its
 *     end) → leaver;
 *  3. employmentStatus "leave" → leave, whatever `active` says (HR often deactivates people on leave, and
 *     the issue wants their memberships kept, not removed as a leaver's);
 *  4. startDate in the future, or "pre-hire" without a startDate → prehire (pre-hires are often created
 *     with active=false; that is not a leaver). A "pre-hire" whose startDate has passed is active: "a
 *     pre-hire becomes a joiner at startDate" even when HR has not flipped the status yet;
 *  5. active=false → leaver, except a "pre-hire" whose start date has come (created inactive, as HR systems
 *     do; it becomes the joiner and the broker enables it); otherwise active.
 */
export function userStatus(s: StatusFields, now: Date): UserStatus {
  return statusWithReason(s, now).status;
}

function statusWithReason(s: StatusFields, now: Date): { status: UserStatus; reason?: LeaverReason } {
  const employment = lower(s.employmentStatus);
  // A termination dated ahead (endDate in the future, Workday-style lookahead) of someone who has started
  // takes effect at its endDate: effectiveDates schedules it, and this rule makes the user a leaver then. A
  // withdrawn offer (start still ahead) is a leaver at once: nobody gets access for the days in between.
  if (employment === "terminated" && !(after(s.endDate, now) && !after(s.startDate, now))) return { status: "leaver", reason: "terminated" };
  if (s.endDate && !after(s.endDate, now)) return { status: "leaver", reason: "end-date" };
  if (employment === "leave") return { status: "leave" };
  if (after(s.startDate, now) || (employment === "pre-hire" && !s.startDate)) return { status: "prehire" };
  // A pre-hire created inactive (the usual HR shape) is not a leaver once its start date comes: it is the
  // joiner, and the lifecycle layer enables the account (user-lifecycle.ts).
  if (!s.active && employment !== "pre-hire") return { status: "leaver", reason: "deactivated" };
  return { status: "active" };
}

/**
 * Classifies one change. `before` null = created; `after` null = deleted. Transitions (rows = before):
 *
 *   before \ after | active             | prehire  | leave  | leaver
 *   (none)         | joiner             | prehire  | leave  | —
 *   prehire        | joiner             | prehire¹ | leave  | leaver
 *   active         | mover/conversion²  | prehire  | leave  | leaver
 *   leave          | return (+mover²)   | prehire  | mover² | leaver
 *   leaver         | rehire             | prehire³ | leave  | —
 *
 * ¹ only when the start date moved (a reschedule); ² only when MOVER_ATTRIBUTES changed — a leaver gets no
 * mover even if the same request changed the department; a rehire is a fresh start, evaluated as a joiner;
 * ³ with rehire: true. DELETE of a non-leaver is a leaver with reason "deleted".
 * Review flags are appended when a condition becomes true (not on every later change, which would re-raise
 * a review the owner already closed).
 *
 * `beforeAt` is the instant at which `before` is judged. An HR write leaves it at `now` (the change is the
 * write). The scheduled job that fires at a start or end date passes the same row twice with
 * `beforeAt` = just before the scheduled instant, so the date crossing itself is the transition — a late
 * job still produces its joiner or leaver, and an HR write in between cannot swallow it.
 */
export function classifyChange(
  before: UserSnapshot | null,
  after: UserSnapshot | null,
  now: Date,
  beforeAt: Date = now,
): LifecycleEvent[] {
  const from = before ? statusWithReason(before, beforeAt) : null;
  if (!after) {
    if (!before || from!.status === "leaver") return [];
    return [{ kind: "leaver", reason: "deleted" }, ...ownerReview(before, "owner-left")];
  }
  const to = statusWithReason(after, now);
  const events: LifecycleEvent[] = [];
  switch (to.status) {
    case "leaver":
      if (from && from.status !== "leaver") events.push({ kind: "leaver", reason: to.reason! }, ...ownerReview(after, "owner-left"));
      return events; // a leaver needs no further review of its own
    case "prehire":
      if (!from || from.status !== "prehire" || before!.startDate?.getTime() !== after.startDate?.getTime())
        events.push({ kind: "prehire", startAt: after.startDate, rehire: from?.status === "leaver" });
      break;
    case "leave":
      if (!from || from.status !== "leave") events.push({ kind: "leave" });
      else events.push(...attributeEvents(before!, after));
      break;
    case "active":
      if (!from || from.status === "prehire") events.push({ kind: "joiner" });
      else if (from.status === "leaver") events.push({ kind: "rehire" });
      else {
        if (from.status === "leave") events.push({ kind: "return" });
        events.push(...attributeEvents(before!, after));
      }
      break;
  }
  events.push(...reviewFlags(before, from?.status ?? null, after));
  return events;
}

/** Mover and conversion between two snapshots of a present (not leaver) user. */
function attributeEvents(before: UserSnapshot, after: UserSnapshot): LifecycleEvent[] {
  const events: LifecycleEvent[] = [];
  // Contractor ↔ employee is a conversion; the userType change is then not also reported as a mover.
  const conversion = (isContractor(before) && isEmployee(after)) || (isEmployee(before) && isContractor(after));
  if (conversion) events.push({ kind: "conversion", from: before.userType, to: after.userType });
  const changed = MOVER_ATTRIBUTES.filter((a) => (before[a] ?? null) !== (after[a] ?? null) && !(conversion && a === "userType"));
  if (changed.length > 0) events.push({ kind: "mover", changed }, ...ownerReview(after, "owner-moved"));
  return events;
}

// The user that changed may own service accounts; which ones is a store query, so the event only says so.
function ownerReview(s: UserSnapshot, because: "owner-left" | "owner-moved"): LifecycleEvent[] {
  return isServiceAccount(s) ? [] : [{ kind: "review", flag: { kind: "owned-service-accounts", because } }];
}

function reviewFlags(before: UserSnapshot | null, fromStatus: UserStatus | null, after: UserSnapshot): LifecycleEvent[] {
  const fresh = !before || fromStatus === "leaver"; // created or rehired: every condition is new
  const flags: LifecycleEvent[] = [];
  const openContract = (s: UserSnapshot) => isContractor(s) && !s.endDate;
  if (openContract(after) && (fresh || !openContract(before!)))
    flags.push({ kind: "review", flag: { kind: "contractor-without-end-date" } });
  const ownerless = (s: UserSnapshot) => isServiceAccount(s) && !s.sponsorId && !s.managerId;
  if (ownerless(after) && (fresh || !ownerless(before!)))
    flags.push({ kind: "review", flag: { kind: "service-account-without-owner" } });
  return flags;
}

export interface EffectiveDates {
  /** When to classify again so the pre-hire becomes a joiner; null = nothing to schedule. */
  startAt: Date | null;
  /** When to classify again so the user becomes a leaver (reason end-date); null = nothing to schedule. */
  endAt: Date | null;
}

/**
 * What the scheduler should queue for this snapshot: only future instants, and none for a leaver (a
 * terminated user's future dates are moot). An end date before the start date schedules only the start:
 * at the start the user is already past its end, which classifies as a leaver then.
 */
export function effectiveDates(s: UserSnapshot, now: Date): EffectiveDates {
  if (userStatus(s, now) === "leaver") return { startAt: null, endAt: null };
  const startAt = after(s.startDate, now) ? s.startDate : null;
  const endAt = after(s.endDate, now) && !(startAt && s.endDate!.getTime() <= startAt.getTime()) ? s.endDate : null;
  return { startAt, endAt };
}
