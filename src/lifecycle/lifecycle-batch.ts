// A batch of creates (a /Bulk of users, UserService.createMany) runs each user's lifecycle in operation order,
// as one create after another would — same classification, shield, desired memberships and reviews — but the
// writes that end every lifecycle are collected here and sent once for the whole batch, when it ends
// (lifecycle-hooks.ts afterUserBatch): the new users' membership rows (one insert) and their groups' versions
// (one bump), the transitions (events, state rows, audit rows: recordTransitions) in one statement, then what
// the fan-out owes (FanoutPort.changedInBatch: one read, one account write and one job statement for every
// user, one group outbox per group) — instead of, per user, a group look-up, one insert per group, a version
// bump, a transition and two outbox statements. Each statement saved is a round trip the batch no longer
// waits for (the latency of a remote database) and one wake-up of PostgreSQL (docs/performance.md).
//
// Deferring is safe because nothing later in a create's lifecycle, nor in a later user's, reads what these
// writes write: a create is never a leaver event (domain/classify.ts: a leaver needs a status before), so
// the mass-deprovision guard — the one reader of other users' lifecycle events — never runs for it, and the
// outbox rows are read by deliveries only, after the commit.
import type pg from "pg";
import type { AuditInput } from "../audit/audit-log.ts";
import { recordTransitions, type Transition } from "./event-store.ts";
import type { FanoutPort, MembershipChangedEvent, UserChangedEvent } from "./fanout-port.ts";
import { addMemberRows, groupIdsByName, touchGroups, type NewMemberRow } from "./membership-store.ts";

type Q = Pick<pg.PoolClient, "query">;

export class LifecycleBatch {
  readonly #byInstant = new Map<number, { at: Date; transitions: Transition[]; audit: AuditInput[] }>();
  readonly #users: UserChangedEvent[] = [];
  readonly #memberships: MembershipChangedEvent[] = [];
  readonly #members: NewMemberRow[] = [];
  readonly #touched = new Set<string>();
  #touchedAt: Date | null = null;
  /** Group ids by name, read once per batch (a create's rule groups are the same few for every user). */
  readonly #groupIds = new Map<string, string>();

  /** The ids of these groups (those that exist), read once for the batch. */
  async groupIds(tx: Q, names: readonly string[]): Promise<Map<string, string>> {
    const missing = [...new Set(names.filter((n) => !this.#groupIds.has(n)))];
    if (missing.length) for (const [n, id] of await groupIdsByName(tx, missing)) this.#groupIds.set(n, id);
    return new Map(names.filter((n) => this.#groupIds.has(n)).map((n) => [n, this.#groupIds.get(n)!]));
  }

  /** A created user's membership rows (it has none yet, so each is added, as addMembers one by one would). */
  addMembers(rows: readonly NewMemberRow[]): void {
    this.#members.push(...rows);
  }

  /** Groups whose membership changed: their version is bumped once for the batch (touchGroups). */
  touch(groupIds: Iterable<string>, at: Date): void {
    for (const g of groupIds) this.#touched.add(g);
    this.#touchedAt = at;
  }

  /** What a user's lifecycle hands to the fan-out (FanoutPort.userChanged, then membershipChanged). */
  notify(user: UserChangedEvent, memberships: readonly MembershipChangedEvent[]): void {
    this.#users.push(user);
    this.#memberships.push(...memberships);
  }

  /** A user's transition, recorded when the batch ends (in the order added). */
  add(t: Transition, at: Date, audit: readonly AuditInput[]): void {
    let slot = this.#byInstant.get(at.getTime());
    if (!slot) this.#byInstant.set(at.getTime(), (slot = { at, transitions: [], audit: [] }));
    slot.transitions.push(t);
    slot.audit.push(...audit);
  }

  /**
   * Writes what the batch's lifecycles deferred: the membership rows and the groups' versions, every
   * transition (one statement per instant: a batch has one), then the fan-out's work — which reads the
   * memberships, so they go first.
   */
  async flush(tx: pg.PoolClient, fanout: FanoutPort): Promise<void> {
    if (this.#members.length) await addMemberRows(tx, this.#members.splice(0));
    if (this.#touched.size) await touchGroups(tx, [...this.#touched], this.#touchedAt!);
    this.#touched.clear();
    for (const { at, transitions, audit } of this.#byInstant.values()) await recordTransitions(tx, transitions, at, audit);
    this.#byInstant.clear();
    if (this.#users.length || this.#memberships.length) await fanout.changedInBatch(tx, { users: this.#users.splice(0), memberships: this.#memberships.splice(0) });
  }
}
