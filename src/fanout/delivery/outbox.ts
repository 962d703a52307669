// The FanoutPort (src/lifecycle/fanout-port.ts) implemented as a transactional outbox: lifecycle calls it
// inside the HR request's transaction, and everything the apps will need commits with the change or not at
// all — the account rows marked pending (desired_version + 1), one graphile-worker job per (app, user) and,
// for a leaver, the SLA record whose clock starts at the HR request's change record. Two statements per HR
// write whatever the number of apps: one read, one write (graphile_worker.add_jobs takes them all).
//
// Which apps: those that should hold an account now (app.assign on the user as it is in this transaction)
// and those where we hold or owe one (an account row not yet confirmed deprovisioned). A user never
// assigned to an app costs it nothing.
import type pg from "pg";
import type { BatchChanges, FanoutPort, MembershipChangedEvent, UserChangedEvent } from "../../lifecycle/fanout-port.ts";
import type { AppRegistry } from "../apps/app-registry.ts";
import { wantsAccount } from "./desired-state.ts";
import { addJobSpecs, GROUP_TASK, groupJobKey, LEAVER_TASK, leaverJobKey, PRIORITY, userJobSpecs, type LeaverJob } from "../../jobs/fanout-jobs.ts";
import type { LeaverFastPath } from "./leaver-fast-path.ts";
import * as outbox from "./outbox-repository.ts";

export class FanoutOutbox implements FanoutPort {
  /** `fastPath`: a leaver's deliveries start in this process once the HR transaction commits (leaver-fast-path.ts). */
  constructor(private readonly apps: AppRegistry, private readonly fastPath?: LeaverFastPath) {}

  userChanged(tx: pg.PoolClient, e: UserChangedEvent): Promise<void> {
    return this.#enqueue(tx, e, false);
  }

  /** Called before the user row is deleted: every app holding an account must deprovision it. */
  userDeleted(tx: pg.PoolClient, e: UserChangedEvent): Promise<void> {
    return this.#enqueue(tx, { ...e, leaver: true }, true);
  }

  async membershipChanged(tx: pg.PoolClient, e: MembershipChangedEvent): Promise<void> {
    const apps = this.apps.list().filter((a) => a.groups.has(e.groupName)).map((a) => a.name);
    if (apps.length === 0 || (e.added.length === 0 && e.removed.length === 0)) return;
    const written = await outbox.writeGroupOutbox(tx, apps, e);
    // add_jobs can skip a spec whose pending job a worker locked meanwhile (see addJobSpecs): add those again.
    const missed = apps.filter((a) => !written.has(groupJobKey(a, e.groupId)));
    if (missed.length) await addJobSpecs(tx, missed.map((app) => ({ task: GROUP_TASK, payload: { app, groupId: e.groupId }, key: groupJobKey(app, e.groupId), priority: PRIORITY.group })));
  }

  /**
   * A batch of creates: one statement reads every user, one marks every account pending, one adds the jobs
   * (each user joins its bucket's batch job, userJobSpecs), then one group outbox per group whatever the
   * number of users it gained — instead of two statements per user and one per (user, group).
   */
  async changedInBatch(tx: pg.PoolClient, c: BatchChanges): Promise<void> {
    if (this.apps.size === 0) return;
    const alone = c.users.filter((e) => e.leaver); // not from a batch of creates; kept exact all the same
    for (const e of alone) await this.userChanged(tx, e);
    const users = c.users.filter((e) => !e.leaver);
    if (users.length) {
      const reads = await outbox.readUsersForOutbox(tx, users.map((e) => e.userId));
      const owed: outbox.UserOutboxItem[] = [];
      for (const e of users) {
        const r = reads.get(e.userId)!;
        const apps = this.#appsOf(r.user, r.groups, r.accounts, e.at);
        if (apps.length) owed.push({ userId: e.userId, userName: r.userName ?? r.knownName ?? "", apps, changeId: e.changeId, at: e.at });
      }
      if (owed.length) {
        await outbox.markUsersPending(tx, owed);
        await addJobSpecs(tx, userJobSpecs(owed.flatMap((o) => o.apps.map((app) => ({ app, userId: o.userId, leaver: false })))));
      }
    }
    // One event per group: the users it gained or lost across the batch.
    const byGroup = new Map<string, MembershipChangedEvent>();
    for (const e of c.memberships) {
      const g = byGroup.get(e.groupId);
      if (!g) byGroup.set(e.groupId, { ...e, added: [...e.added], removed: [...e.removed] });
      else { g.added.push(...e.added); g.removed.push(...e.removed); }
    }
    for (const e of byGroup.values()) await this.membershipChanged(tx, e);
  }

  /** The apps that should hold an account now, and those where we hold or owe one. */
  #appsOf(user: Parameters<typeof wantsAccount>[1], groups: Parameters<typeof wantsAccount>[2], accounts: Record<string, string>, at: Date): string[] {
    const apps: string[] = [];
    for (const app of this.apps.list()) {
      const status = accounts[app.name];
      if (wantsAccount(app, user, groups, at) || (status !== undefined && status !== "deprovisioned")) apps.push(app.name);
    }
    return apps;
  }

  async #enqueue(tx: pg.PoolClient, e: UserChangedEvent, deleted: boolean): Promise<void> {
    if (this.apps.size === 0) return;
    const r = await outbox.readUserForOutbox(tx, e.userId);
    const user = deleted ? null : r.user;
    const apps = this.#appsOf(user, r.groups, r.accounts, e.at);
    if (apps.length === 0) return;
    const userName: string = r.userName ?? r.knownName ?? "";
    const leaverJobDelayMs = e.leaver && this.fastPath ? this.fastPath.reserve(tx, e.userId, apps) : 0;
    const written = await outbox.writeUserOutbox(tx, apps, { userId: e.userId, userName, leaver: e.leaver, changeId: e.changeId, at: e.at, leaverJobDelayMs });
    // add_jobs can skip a spec whose pending job a worker locked meanwhile (see addJobSpecs): add those again.
    const specs = leaverJobDelayMs > 0
      ? [{ task: LEAVER_TASK, payload: { userId: e.userId, apps } satisfies LeaverJob, key: leaverJobKey(e.userId), priority: PRIORITY.leaver, delayMs: leaverJobDelayMs }]
      : userJobSpecs(apps.map((app) => ({ app, userId: e.userId, leaver: e.leaver })));
    const missed = specs.filter((s) => !written.has(s.key));
    if (missed.length) await addJobSpecs(tx, missed);
  }
}
