// Reconciliation of one app: read its users and groups (paged, RFC 7644 §3.4.2.4), compare them with what
// the broker wants the app to hold, and report drift:
//   leaverActive    an account still active in the app although its user left, was deleted or is no
//                   longer assigned (for `deprovision: delete` apps: an account that still exists)
//   missing         an assigned user without an account in the app
//   unlinked        the app has the user's account (matched by the matching attribute) but our id map
//                   does not point to it
//   attributeDrift  an account whose attributes differ from the mapped desired ones, or that holds a value
//                   for an attribute the broker owns (its mapping's targets) and HR cleared
//   unknown         an app account that belongs to no broker user (only ever reported, never touched)
//   membershipDrift a pushed group whose members differ from the desired set
// --fix corrects what we own through the normal delivery path (marks the accounts owed and enqueues their
// jobs, so rate limits, retries and dead letters apply): everything above but unknown accounts. An account
// found by the matching attribute (compared case-insensitively, RFC 7643 §4.1.1 — the app's own filter may
// be case-exact) is linked first, so the delivery addresses it by id instead of failing on a 409 again. A
// leaver is always re-disabled (and its account linked), even by the scheduled, report-only run.
import type { Clock } from "../../domain/clock.ts";
import type pg from "pg";
import { withTransaction } from "../../store/database.ts";
import type { UserRow } from "../../store/rows.ts";
import type { GroupRef } from "../../scim/user-resource.ts";
import { markForRedelivery } from "../delivery/account-repository.ts";
import { memberSets, resetPushedMembers } from "../delivery/app-group-repository.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import { desiredUser, type DesiredUser } from "../delivery/desired-state.ts";
import { enqueueGroupJobs, enqueueUserJobs } from "../../jobs/fanout-jobs.ts";
import { parsePath, resolvePath, type AttributePath } from "../../domain/mapping-expression.ts";
import { driftingAttributes, isActive } from "./reconcile-diff.ts";
import { clearedButHeld } from "../client/owned-attributes.ts";
import type { ScimResourceWithId } from "../client/scim-client.ts";
import type { ScimResource } from "../../domain/app-mapping.ts";
import { identifierKey } from "../../domain/identifier.ts";
import * as repo from "./reconcile-repository.ts";

/** Entries listed per category (counts are always complete). */
const LIST_LIMIT = 200;
/** Users redelivered per statement of a fix. */
const FIX_CHUNK = 500;

type Category = "leaverActive" | "missing" | "unlinked" | "attributeDrift" | "unknown" | "membershipDrift";

export interface DriftReport {
  app: string;
  fix: "none" | "leavers" | "all";
  startedAt: string;
  finishedAt: string;
  appAccounts: number;
  appGroups: number;
  counts: Record<Category, number>;
  leaverActive: Array<{ userId: string; userName: string; remoteId: string; reason: string }>;
  missing: Array<{ userId: string; userName: string }>;
  unlinked: Array<{ userId: string; userName: string; remoteId: string }>;
  attributeDrift: Array<{ userId: string; userName: string; remoteId: string; attributes: string[] }>;
  unknown: Array<{ remoteId: string; userName: string | null }>;
  membershipDrift: Array<{ group: string; missing: string[]; extra: string[] }>;
  fixed: { users: number; groups: number; removedUnknownMembers: number } | null;
}

export async function reconcileApp(pool: pg.Pool, runtime: AppRuntime, opts: { fix: "none" | "leavers" | "all"; clock: Clock }): Promise<DriftReport> {
  const run = new Reconciliation(pool, runtime, opts.fix, opts.clock.now());
  await runtime.ready();
  await run.readAppAccounts();
  await run.readOurAccounts();
  await run.compareUsers();
  run.compareAccountsOfDeletedUsers();
  run.reportUnknownAccounts();
  await run.comparePushedGroups();
  if (opts.fix !== "none") await run.fix(opts.fix);
  return run.finish(opts.clock.now());
}

/** A user to deliver again; `stale`: owned attribute paths the app holds that the delivery must remove. */
interface Redelivery { userName: string; leaver: boolean; stale?: string[] }
/** A pushed group to bring back to the desired set: the app's members we know, and those we do not. */
interface GroupFix { groupId: string; remoteId: string; actual: Array<[string, string]>; unknownExtra: string[] }

/** One run: what it has read so far, the report it writes, and what a fix will do. */
class Reconciliation {
  readonly report: DriftReport;
  /** The app's accounts by id, and by matching attribute (lower-cased) → id. */
  readonly #byId = new Map<string, ScimResourceWithId>();
  readonly #byMatch = new Map<string, string>();
  #matchPath!: AttributePath;
  /** Our id map, by broker user; after compareUsers, only the accounts of users the broker no longer has. */
  readonly #accounts = new Map<string, { userName: string; remoteId: string | null }>();
  /** app id → the broker userName it is linked to (membership drift names people, not app ids). */
  readonly #nameOfRemote = new Map<string, string>();
  /** App accounts that belong to a broker user (the rest are unknown). */
  readonly #known = new Set<string>();
  readonly #redeliver = new Map<string, Redelivery>();
  /** Accounts found by matching whose id our map lacks (or has wrong): linked before a fix redelivers. */
  readonly #links = new Map<string, string>();
  readonly #groupFixes: GroupFix[] = [];

  constructor(private readonly pool: pg.Pool, private readonly runtime: AppRuntime, fix: DriftReport["fix"], private readonly now: Date) {
    this.report = {
      app: runtime.name, fix, startedAt: now.toISOString(), finishedAt: "", appAccounts: 0, appGroups: 0,
      counts: { leaverActive: 0, missing: 0, unlinked: 0, attributeDrift: 0, unknown: 0, membershipDrift: 0 },
      leaverActive: [], missing: [], unlinked: [], attributeDrift: [], unknown: [], membershipDrift: [], fixed: null,
    };
  }

  #add<K extends Category>(k: K, entry: DriftReport[K][number]): void {
    this.report.counts[k]++;
    if ((this.report[k] as unknown[]).length < LIST_LIMIT) (this.report[k] as unknown[]).push(entry);
  }

  /** 1. The app's accounts (paged, RFC 7644 §3.4.2.4), by id and by matching attribute. */
  async readAppAccounts(): Promise<void> {
    this.#matchPath = parsePath(this.runtime.config.matchAttribute);
    for await (const r of this.runtime.client.iterateUsers({ pageSize: 100 })) {
      this.#byId.set(r.id, r);
      const v = resolvePath(r, this.#matchPath);
      if (typeof v === "string") this.#byMatch.set(v.toLowerCase(), r.id);
    }
    this.report.appAccounts = this.#byId.size;
  }

  /** 2a. Our id map of the app. */
  async readOurAccounts(): Promise<void> {
    for (const a of await repo.accountMap(this.pool, this.runtime.name)) {
      this.#accounts.set(a.userId, { userName: a.userName, remoteId: a.remoteId });
      if (a.remoteId) this.#nameOfRemote.set(a.remoteId, a.userName);
    }
  }

  /** 2b. Every broker user (keyset pages) against the app's accounts. */
  async compareUsers(): Promise<void> {
    const owned = this.runtime.client.ownedPaths;
    for (let after = repo.FIRST_USER_ID; ;) {
      const page = await repo.usersWithGroupsAfter(this.pool, after);
      if (page.length === 0) break;
      after = page[page.length - 1]!.user.id;
      for (const { user, groups } of page) this.#compareUser(user, groups, owned);
    }
  }

  #compareUser(user: UserRow, groups: GroupRef[], owned: readonly string[]): void {
    const desired = desiredUser(this.runtime, user, groups, this.now);
    const account = this.#accounts.get(user.id);
    this.#accounts.delete(user.id);
    let remote = account?.remoteId ? this.#byId.get(account.remoteId) : undefined;
    if (!remote) {
      remote = this.#matching(desired.resource ?? { userName: user.userName });
      if (remote) this.#links.set(user.id, remote.id);
      if (remote && desired.kind === "provision") this.#add("unlinked", { userId: user.id, userName: user.userName, remoteId: remote.id });
    }
    if (remote) this.#known.add(remote.id);
    if (desired.kind === "provision") this.#compareProvisioned(user, desired, account?.remoteId, remote, owned);
    else if (remote && (desired.mode === "delete" || isActive(remote))) {
      this.#add("leaverActive", { userId: user.id, userName: user.userName, remoteId: remote.id, reason: desired.reason });
      this.#redeliver.set(user.id, { userName: user.userName, leaver: true });
    }
  }

  /** The app's account found by the matching attribute (compared case-insensitively, RFC 7643 §4.1.1). */
  #matching(resource: ScimResource): ScimResourceWithId | undefined {
    const v = resolvePath(resource, this.#matchPath);
    const id = typeof v === "string" ? this.#byMatch.get(v.toLowerCase()) : undefined;
    return id ? this.#byId.get(id) : undefined;
  }

  /** An assigned user: missing, drifting (attributes, or an owned one HR cleared), or to be linked. */
  #compareProvisioned(user: UserRow, desired: Extract<DesiredUser, { kind: "provision" }>, linkedId: string | null | undefined, remote: ScimResourceWithId | undefined, owned: readonly string[]): void {
    if (!remote) {
      this.#add("missing", { userId: user.id, userName: user.userName });
      this.#redeliver.set(user.id, { userName: user.userName, leaver: false });
      return;
    }
    const stale = clearedButHeld(desired.resource, remote, owned);
    const drift = [...driftingAttributes(desired.resource, remote), ...stale].sort();
    if (drift.length) this.#add("attributeDrift", { userId: user.id, userName: user.userName, remoteId: remote.id, attributes: drift });
    if (drift.length || linkedId !== remote.id) this.#redeliver.set(user.id, { userName: user.userName, leaver: false, ...(stale.length ? { stale } : {}) });
  }

  /** 3. Accounts of users deleted from the broker: still active (or still there, for delete apps) is drift. */
  compareAccountsOfDeletedUsers(): void {
    for (const [userId, account] of this.#accounts) {
      const id = account.remoteId && this.#byId.has(account.remoteId) ? account.remoteId : this.#byMatch.get(account.userName.toLowerCase());
      const remote = id ? this.#byId.get(id) : undefined;
      if (!remote) continue;
      this.#known.add(remote.id);
      if (account.remoteId !== remote.id) this.#links.set(userId, remote.id);
      if (this.runtime.config.deprovision === "delete" || isActive(remote)) {
        this.#add("leaverActive", { userId, userName: account.userName, remoteId: remote.id, reason: "deleted" });
        this.#redeliver.set(userId, { userName: account.userName, leaver: true });
      }
    }
  }

  /** 3b. App accounts that belong to no broker user: reported, never touched. */
  reportUnknownAccounts(): void {
    for (const [id, r] of this.#byId)
      if (!this.#known.has(id)) this.#add("unknown", { remoteId: id, userName: typeof r.userName === "string" ? r.userName : null });
  }

  /** 4. Pushed groups: the app's members against the desired set. */
  async comparePushedGroups(): Promise<void> {
    for (const name of this.runtime.groups) await this.#compareGroup(name);
  }

  async #compareGroup(name: string): Promise<void> {
    const { client } = this.runtime;
    const g = await repo.managedGroup(this.pool, this.runtime.name, identifierKey(name));
    if (!g) return;
    const appGroup = g.remoteId ? await client.getGroup(g.remoteId) : await client.findGroupBy("displayName", name);
    this.report.appGroups++;
    const full = appGroup && !Array.isArray(appGroup.members) ? await client.getGroup(appGroup.id) : appGroup;
    const actual = new Set(((full?.members ?? []) as Array<{ value?: unknown }>).map((m) => String(m.value)));
    const { desired } = await memberSets(this.pool, this.runtime.name, g.id);
    const want = new Set(desired.values());
    const missing = [...want].filter((v) => !actual.has(v));
    const extra = [...actual].filter((v) => !want.has(v));
    if (full && !missing.length && !extra.length) return;
    this.#add("membershipDrift", { group: name, missing: missing.map((v) => this.#label(v)), extra: extra.map((v) => this.#label(v)) });
    const remoteToUser = new Map<string, string>([...desired].map(([u, r]) => [r, u]));
    for (const [remoteId, userId] of await repo.usersOfRemoteIds(this.pool, this.runtime.name, [...actual])) remoteToUser.set(remoteId, userId);
    this.#groupFixes.push({
      groupId: g.id, remoteId: full?.id ?? "",
      actual: [...actual].filter((v) => remoteToUser.has(v)).map((v) => [remoteToUser.get(v)!, v]),
      unknownExtra: extra.filter((v) => !remoteToUser.has(v)),
    });
  }

  /** A member of an app group, named for people: the broker user, else the app's userName, else its id. */
  #label(remoteId: string): string {
    const appUserName = this.#byId.get(remoteId)?.userName;
    return this.#nameOfRemote.get(remoteId) ?? (typeof appUserName === "string" ? appUserName : `app id ${remoteId}`);
  }

  /**
   * 5. Fix what we own, through the delivery jobs (one transaction), then remove the members of our managed
   * groups that belong to nobody we know.
   */
  async fix(mode: "leavers" | "all"): Promise<void> {
    const users = [...this.#redeliver].filter(([, v]) => mode === "all" || v.leaver);
    const groups = mode === "all" ? this.#groupFixes : [];
    await withTransaction(this.pool, async (tx) => {
      const taken = new Set<string>(); // one broker user per app account, even across chunks
      for (let i = 0; i < users.length; i += FIX_CHUNK) await this.#redeliverUsers(tx, users.slice(i, i + FIX_CHUNK), taken);
      for (const f of groups) await this.#resyncGroup(tx, f);
    });
    let removedUnknownMembers = 0;
    for (const f of groups) {
      // The group is ours, so members that belong to nobody we know go.
      if (f.remoteId && f.unknownExtra.length) {
        await this.runtime.client.patchGroupMembers(f.remoteId, [], f.unknownExtra);
        removedUnknownMembers += f.unknownExtra.length;
      }
    }
    this.report.fixed = { users: users.length, groups: groups.length, removedUnknownMembers };
  }

  /** Accounts owed again (created if missing, linked if found by matching, stale attributes recorded), their jobs queued. */
  async #redeliverUsers(tx: pg.PoolClient, chunk: Array<[string, Redelivery]>, taken: Set<string>): Promise<void> {
    const app = this.runtime.name;
    await repo.ensureAccounts(tx, app, chunk.map(([userId, v]) => ({ userId, userName: v.userName })), this.now);
    const linked = chunk.filter(([u]) => this.#links.has(u) && !taken.has(this.#links.get(u)!) && (taken.add(this.#links.get(u)!), true));
    await repo.linkRemoteIds(tx, app, linked.map(([userId]) => ({ userId, remoteId: this.#links.get(userId)! })));
    await markForRedelivery(tx, app, chunk.map(([u]) => u), this.now);
    await repo.addStaleDeliveredAttrs(tx, app, chunk.flatMap(([userId, v]) => (v.stale ? [{ userId, paths: v.stale }] : [])));
    await enqueueUserJobs(tx, chunk.map(([userId, v]) => ({ app, userId, leaver: v.leaver })));
  }

  /** A drifting group: what the app really holds becomes what we pushed, and a sync is owed. */
  async #resyncGroup(tx: pg.PoolClient, f: GroupFix): Promise<void> {
    await repo.ensureAppGroup(tx, this.runtime.name, f.groupId, this.now);
    await resetPushedMembers(tx, this.runtime.name, f.groupId, f.actual, this.now);
    await enqueueGroupJobs(tx, f.groupId, [this.runtime.name]);
  }

  finish(at: Date): DriftReport {
    this.report.finishedAt = at.toISOString();
    return this.report;
  }
}
