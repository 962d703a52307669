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
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import { markForRedelivery } from "../delivery/account-repository.ts";
import { memberSets, resetPushedMembers } from "../delivery/app-group-repository.ts";
import type { AppRuntime } from "../apps/app-registry.ts";
import { desiredUser } from "../delivery/desired-state.ts";
import { enqueueGroupJobs, enqueueUserJobs } from "../../jobs/fanout-jobs.ts";
import { parsePath, resolvePath } from "../../domain/mapping-expression.ts";
import { driftingAttributes, isActive } from "./reconcile-diff.ts";
import { clearedButHeld } from "../client/owned-attributes.ts";
import type { ScimResourceWithId } from "../client/scim-client.ts";
import { identifierKey } from "../../domain/identifier.ts";

/** Entries listed per category (counts are always complete). */
const LIST_LIMIT = 200;

export interface DriftReport {
  app: string;
  fix: "none" | "leavers" | "all";
  startedAt: string;
  finishedAt: string;
  appAccounts: number;
  appGroups: number;
  counts: Record<"leaverActive" | "missing" | "unlinked" | "attributeDrift" | "unknown" | "membershipDrift", number>;
  leaverActive: Array<{ userId: string; userName: string; remoteId: string; reason: string }>;
  missing: Array<{ userId: string; userName: string }>;
  unlinked: Array<{ userId: string; userName: string; remoteId: string }>;
  attributeDrift: Array<{ userId: string; userName: string; remoteId: string; attributes: string[] }>;
  unknown: Array<{ remoteId: string; userName: string | null }>;
  membershipDrift: Array<{ group: string; missing: string[]; extra: string[] }>;
  fixed: { users: number; groups: number; removedUnknownMembers: number } | null;
}

export async function reconcileApp(pool: pg.Pool, runtime: AppRuntime, opts: { fix: "none" | "leavers" | "all"; clock: Clock }): Promise<DriftReport> {
  const started = opts.clock.now();
  const now = started;
  const { client, config } = runtime;
  await runtime.ready();
  const report: DriftReport = {
    app: runtime.name, fix: opts.fix, startedAt: started.toISOString(), finishedAt: "", appAccounts: 0, appGroups: 0,
    counts: { leaverActive: 0, missing: 0, unlinked: 0, attributeDrift: 0, unknown: 0, membershipDrift: 0 },
    leaverActive: [], missing: [], unlinked: [], attributeDrift: [], unknown: [], membershipDrift: [], fixed: null,
  };
  const add = <K extends "leaverActive" | "missing" | "unlinked" | "attributeDrift" | "unknown" | "membershipDrift">(k: K, entry: DriftReport[K][number]) => {
    report.counts[k]++;
    if ((report[k] as unknown[]).length < LIST_LIMIT) (report[k] as unknown[]).push(entry);
  };

  // 1. The app's accounts, by id and by matching attribute.
  const byId = new Map<string, ScimResourceWithId>();
  const byMatch = new Map<string, string>();
  const matchPath = parsePath(config.matchAttribute);
  for await (const r of client.iterateUsers({ pageSize: 100 })) {
    byId.set(r.id, r);
    const v = resolvePath(r, matchPath);
    if (typeof v === "string") byMatch.set(v.toLowerCase(), r.id);
  }
  report.appAccounts = byId.size;
  const known = new Set<string>();
  /** Users to deliver again; `stale`: owned attribute paths the app holds that the delivery must remove. */
  const redeliver = new Map<string, { userName: string; leaver: boolean; stale?: string[] }>();
  const owned = client.ownedPaths;
  /** Accounts found by matching whose id our map lacks (or has wrong): linked before a fix redelivers. */
  const links = new Map<string, string>();

  // 2. Our id map, then every broker user (keyset pages) against it.
  const accounts = new Map<string, { userName: string; remoteId: string | null }>();
  /** app id → the broker userName it is linked to (membership drift names people, not app ids). */
  const nameOfRemote = new Map<string, string>();
  for (const r of (await pool.query(`SELECT user_id, user_name, remote_id FROM app_account WHERE app = $1`, [runtime.name])).rows) {
    accounts.set(r.user_id, { userName: r.user_name, remoteId: r.remote_id });
    if (r.remote_id) nameOfRemote.set(r.remote_id, r.user_name);
  }
  const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");
  for (let after = "00000000-0000-0000-0000-000000000000"; ;) {
    const { rows } = await pool.query(
      `SELECT ${U}, (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name)), '[]'::json)
                       FROM group_member gm JOIN scim_group g ON g.id = gm.group_id WHERE gm.user_id = u.id) AS groups
         FROM scim_user u WHERE u.id > $1::uuid ORDER BY u.id LIMIT 1000`, [after]);
    if (rows.length === 0) break;
    after = rows[rows.length - 1].id;
    for (const r of rows) {
      const user = rowToUser(r);
      const desired = desiredUser(runtime, user, r.groups, now);
      const account = accounts.get(user.id);
      accounts.delete(user.id);
      let remote = account?.remoteId ? byId.get(account.remoteId) : undefined;
      if (!remote) {
        const v = resolvePath(desired.resource ?? { userName: user.userName }, matchPath);
        const id = typeof v === "string" ? byMatch.get(v.toLowerCase()) : undefined;
        remote = id ? byId.get(id) : undefined;
        if (remote) links.set(user.id, remote.id);
        if (remote && desired.kind === "provision") add("unlinked", { userId: user.id, userName: user.userName, remoteId: remote.id });
      }
      if (remote) known.add(remote.id);
      if (desired.kind === "provision") {
        if (!remote) {
          add("missing", { userId: user.id, userName: user.userName });
          redeliver.set(user.id, { userName: user.userName, leaver: false });
          continue;
        }
        const stale = clearedButHeld(desired.resource, remote, owned);
        const drift = [...driftingAttributes(desired.resource, remote), ...stale].sort();
        if (drift.length) add("attributeDrift", { userId: user.id, userName: user.userName, remoteId: remote.id, attributes: drift });
        if (drift.length || account?.remoteId !== remote.id) redeliver.set(user.id, { userName: user.userName, leaver: false, ...(stale.length ? { stale } : {}) });
      } else if (remote && (desired.mode === "delete" || isActive(remote))) {
        add("leaverActive", { userId: user.id, userName: user.userName, remoteId: remote.id, reason: desired.reason });
        redeliver.set(user.id, { userName: user.userName, leaver: true });
      }
    }
  }
  // 3. Accounts of users deleted from the broker.
  for (const [userId, account] of accounts) {
    const id = account.remoteId && byId.has(account.remoteId) ? account.remoteId : byMatch.get(account.userName.toLowerCase());
    const remote = id ? byId.get(id) : undefined;
    if (!remote) continue;
    known.add(remote.id);
    if (account.remoteId !== remote.id) links.set(userId, remote.id);
    if (config.deprovision === "delete" || isActive(remote)) {
      add("leaverActive", { userId, userName: account.userName, remoteId: remote.id, reason: "deleted" });
      redeliver.set(userId, { userName: account.userName, leaver: true });
    }
  }
  for (const [id, r] of byId) if (!known.has(id)) add("unknown", { remoteId: id, userName: typeof r.userName === "string" ? r.userName : null });

  // 4. Pushed groups: the app's members against the desired set.
  const groupFixes: Array<{ groupId: string; remoteId: string; actual: Array<[string, string]>; unknownExtra: string[] }> = [];
  for (const name of runtime.groups) {
    const g = (await pool.query(`SELECT g.id, ag.remote_id FROM scim_group g LEFT JOIN app_group ag ON ag.app = $2 AND ag.group_id = g.id WHERE g.display_name_key = $1`, [identifierKey(name), runtime.name])).rows[0];
    if (!g) continue;
    const appGroup = g.remote_id ? await client.getGroup(g.remote_id) : await client.findGroupBy("displayName", name);
    report.appGroups++;
    const full = appGroup && !Array.isArray(appGroup.members) ? await client.getGroup(appGroup.id) : appGroup;
    const actual = new Set(((full?.members ?? []) as Array<{ value?: unknown }>).map((m) => String(m.value)));
    const { desired } = await memberSets(pool, runtime.name, g.id);
    const want = new Set(desired.values());
    const missing = [...want].filter((v) => !actual.has(v));
    const extra = [...actual].filter((v) => !want.has(v));
    if (!full || missing.length || extra.length) {
      const label = (v: string) => nameOfRemote.get(v) ?? (typeof byId.get(v)?.userName === "string" ? String(byId.get(v)!.userName) : `app id ${v}`);
      add("membershipDrift", { group: name, missing: missing.map(label), extra: extra.map(label) });
      const remoteToUser = new Map<string, string>([...desired].map(([u, r]) => [r, u]));
      const ours = await pool.query(`SELECT user_id, remote_id FROM app_account WHERE app = $1 AND remote_id = ANY($2::text[])`, [runtime.name, [...actual]]);
      for (const x of ours.rows) remoteToUser.set(x.remote_id, x.user_id);
      groupFixes.push({
        groupId: g.id, remoteId: full?.id ?? "",
        actual: [...actual].filter((v) => remoteToUser.has(v)).map((v) => [remoteToUser.get(v)!, v]),
        unknownExtra: extra.filter((v) => !remoteToUser.has(v)),
      });
    }
  }

  // 5. Fix what we own, through the delivery jobs.
  if (opts.fix !== "none") {
    const users = [...redeliver].filter(([, v]) => opts.fix === "all" || v.leaver);
    let removedUnknownMembers = 0;
    await withTransaction(pool, async (tx) => {
      const taken = new Set<string>(); // one broker user per app account, even across chunks
      for (let i = 0; i < users.length; i += 500) {
        const chunk = users.slice(i, i + 500);
        await tx.query(
          `INSERT INTO app_account (app, user_id, user_name, pending_since) SELECT $1, u, n, $4 FROM unnest($2::uuid[], $3::text[]) AS x(u, n) ON CONFLICT DO NOTHING`,
          [runtime.name, chunk.map(([u]) => u), chunk.map(([, v]) => v.userName), now]);
        const linked = chunk.filter(([u]) => links.has(u) && !taken.has(links.get(u)!) && (taken.add(links.get(u)!), true));
        // (never a remote id another broker user already holds: app_account is unique per app both ways)
        if (linked.length)
          await tx.query(
            `UPDATE app_account a SET remote_id = x.remote_id FROM unnest($2::uuid[], $3::text[]) AS x(user_id, remote_id)
              WHERE a.app = $1 AND a.user_id = x.user_id
                AND NOT EXISTS (SELECT 1 FROM app_account o WHERE o.app = $1 AND o.remote_id = x.remote_id AND o.user_id <> x.user_id)`,
            [runtime.name, linked.map(([u]) => u), linked.map(([u]) => links.get(u)!)]);
        await markForRedelivery(tx, runtime.name, chunk.map(([u]) => u), now);
        // Attributes the app holds that HR cleared: recorded as delivered, so the delivery removes them.
        const stale = chunk.filter(([, v]) => v.stale);
        if (stale.length)
          await tx.query(
            `UPDATE app_account a SET delivered_attrs = ARRAY(SELECT DISTINCT unnest(coalesce(a.delivered_attrs, '{}') || ARRAY(SELECT jsonb_array_elements_text(x.stale::jsonb))))
               FROM unnest($2::uuid[], $3::text[]) AS x(user_id, stale) WHERE a.app = $1 AND a.user_id = x.user_id`,
            [runtime.name, stale.map(([u]) => u), stale.map(([, v]) => JSON.stringify(v.stale))]);
        await enqueueUserJobs(tx, chunk.map(([userId, v]) => ({ app: runtime.name, userId, leaver: v.leaver })));
      }
      if (opts.fix === "all") for (const f of groupFixes) {
        await tx.query(`INSERT INTO app_group (app, group_id, group_name, pending_since) SELECT $1, id, display_name, $3 FROM scim_group WHERE id = $2 ON CONFLICT DO NOTHING`, [runtime.name, f.groupId, now]);
        await resetPushedMembers(tx, runtime.name, f.groupId, f.actual, now);
        await enqueueGroupJobs(tx, f.groupId, [runtime.name]);
      }
    });
    if (opts.fix === "all") for (const f of groupFixes) {
      // Members of our managed group that belong to nobody we know: the group is ours, so they go.
      if (f.remoteId && f.unknownExtra.length) {
        await client.patchGroupMembers(f.remoteId, [], f.unknownExtra);
        removedUnknownMembers += f.unknownExtra.length;
      }
    }
    report.fixed = { users: users.length, groups: opts.fix === "all" ? groupFixes.length : 0, removedUnknownMembers };
  }
  report.finishedAt = opts.clock.now().toISOString();
  return report;
}
