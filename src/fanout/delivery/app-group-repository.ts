// SQL for app_group and app_group_member: a managed group pushed to an app, and the members we pushed (app
// ids), so a sync sends only the delta between what the app should have and what we already gave it. Same
// lease as app_account (see account-repository.ts).
import type pg from "pg";
import type { AppGate } from "./account-repository.ts";
import { enqueueGroupJobs } from "../../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface AppGroupRow {
  app: string;
  groupId: string;
  groupName: string;
  remoteId: string | null;
  status: string;
  desiredVersion: number;
  deliveredVersion: number;
  attempts: number;
  lastError: Record<string, unknown> | null;
  pendingSince: Date | null;
  deliveredAt: Date | null;
}

export interface ClaimedGroup {
  group: AppGroupRow;
  gate: AppGate;
  /** The broker group's current displayName; null when the group no longer exists. */
  currentName: string | null;
}

const toGroup = (r: any): AppGroupRow => ({
  app: r.app, groupId: r.group_id, groupName: r.group_name, remoteId: r.remote_id, status: r.status, desiredVersion: r.desired_version,
  deliveredVersion: r.delivered_version, attempts: r.attempts, lastError: r.last_error, pendingSince: r.pending_since, deliveredAt: r.delivered_at,
});

export async function claimGroup(q: Q, app: string, groupId: string, owner: string, leaseMs: number): Promise<ClaimedGroup | { busy: Date } | null> {
  const { rows } = await q.query({ name: "fanout_claim_group", text:
    `WITH c AS (
       UPDATE app_group SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
        WHERE app = $1 AND group_id = $2 AND (lease_until IS NULL OR lease_until < now())
       RETURNING *)
     SELECT c.*, g.display_name AS current_name,
            coalesce(s.disabled, false) AS s_disabled, coalesce(s.quarantined, false) AS s_quarantined, s.probe_at AS s_probe_at,
            s.paused_until AS s_paused_until, coalesce(s.consecutive_failures, 0) AS s_failures
       FROM c LEFT JOIN scim_group g ON g.id = c.group_id LEFT JOIN app_state s ON s.app = c.app`,
    values: [app, groupId, owner, leaseMs] });
  const r = rows[0];
  if (!r) {
    const held = await q.query(`SELECT lease_until FROM app_group WHERE app = $1 AND group_id = $2`, [app, groupId]);
    return held.rows[0] ? { busy: held.rows[0].lease_until ?? new Date(0) /* no end recorded: look again at once */ } : null;
  }
  return {
    group: toGroup(r), currentName: r.current_name,
    gate: { disabled: r.s_disabled, quarantined: r.s_quarantined, probeAt: r.s_probe_at, pausedUntil: r.s_paused_until, failures: r.s_failures },
  };
}

/**
 * Desired members (broker members whose account in this app is provisioned: a remote id and a delivered
 * provision state) and pushed members, as user id → app id. A leaver deleted while the guard holds it is
 * still a member (held_membership) until the review is approved.
 */
export async function memberSets(q: Q, app: string, groupId: string): Promise<{ desired: Map<string, string>; pushed: Map<string, string> }> {
  const { rows } = await q.query({ name: "fanout_group_members", text:
    `SELECT 'd' AS side, a.user_id, a.remote_id FROM (SELECT user_id FROM group_member WHERE group_id = $2
                                                       UNION SELECT user_id FROM held_membership WHERE group_id = $2) m
       JOIN app_account a ON a.app = $1 AND a.user_id = m.user_id
      WHERE a.remote_id IS NOT NULL AND a.delivered_hash IS NOT NULL AND a.delivered_hash NOT LIKE 'deprovision:%'
     UNION ALL
     SELECT 'p', user_id, remote_user_id FROM app_group_member WHERE app = $1 AND group_id = $2`, values: [app, groupId] });
  const desired = new Map<string, string>(), pushed = new Map<string, string>();
  for (const r of rows) (r.side === "d" ? desired : pushed).set(r.user_id, r.remote_id);
  return { desired, pushed };
}

/** Records the pushed delta and the delivered state, releasing the lease. Returns whether a newer change is pending. */
export async function completeGroup(
  q: Q, app: string, groupId: string, owner: string,
  c: { remoteId: string; version: number; added: Array<[string, string]>; removed: string[]; more: boolean; at: Date },
): Promise<{ recorded: boolean; newer: boolean }> {
  const { rows } = await q.query(
    `WITH g AS (
       UPDATE app_group SET remote_id = $4, delivered_version = CASE WHEN $9::boolean THEN delivered_version ELSE $5 END,
              status = CASE WHEN desired_version > $5 OR $9::boolean THEN 'pending' ELSE 'delivered' END,
              pending_since = CASE WHEN desired_version > $5 OR $9::boolean THEN pending_since END,
              delivered_at = $8, updated_at = $8, attempts = 0, last_error = NULL, lease_owner = NULL, lease_until = NULL
        WHERE app = $1 AND group_id = $2 AND lease_owner = $3
       RETURNING desired_version),
     del AS (DELETE FROM app_group_member WHERE app = $1 AND group_id = $2 AND user_id = ANY($7::uuid[]) AND EXISTS (SELECT 1 FROM g)),
     ins AS (
       INSERT INTO app_group_member (app, group_id, user_id, remote_user_id, created_at)
       SELECT $1, $2, u, r, $8 FROM unnest($6::uuid[], $10::text[]) AS x(u, r) WHERE EXISTS (SELECT 1 FROM g)
       ON CONFLICT (app, group_id, user_id) DO UPDATE SET remote_user_id = EXCLUDED.remote_user_id)
     SELECT (SELECT desired_version FROM g) AS desired_version`,
    [app, groupId, owner, c.remoteId, c.version, c.added.map(([u]) => u), c.removed, c.at, c.more, c.added.map(([, r]) => r)]);
  const v = rows[0].desired_version;
  return { recorded: v !== null, newer: v !== null && (v > c.version || c.more) };
}

export async function releaseGroup(q: Q, app: string, groupId: string, owner: string, patch: { status?: string; lastError?: object; attempts?: number; at: Date }): Promise<void> {
  await q.query(
    `UPDATE app_group SET lease_owner = NULL, lease_until = NULL, updated_at = $4, status = coalesce($5, status),
            last_error = CASE WHEN $6::boolean THEN $7::jsonb ELSE last_error END, attempts = coalesce($8, attempts)
      WHERE app = $1 AND group_id = $2 AND lease_owner = $3`,
    [app, groupId, owner, patch.at, patch.status ?? null, patch.lastError !== undefined, patch.lastError === undefined ? null : JSON.stringify(patch.lastError), patch.attempts ?? null]);
}

export async function groupsOfApp(q: Q, app: string): Promise<AppGroupRow[]> {
  const { rows } = await q.query(`SELECT * FROM app_group WHERE app = $1 ORDER BY group_name`, [app]);
  return rows.map(toGroup);
}

/** Marks groups owed again (a replay of their dead letters), attempts reset. */
export async function markGroupsForRedelivery(q: Q, app: string, groupIds: readonly string[], at: Date): Promise<void> {
  if (groupIds.length === 0) return;
  await q.query(`UPDATE app_group SET status = 'pending', attempts = 0, desired_version = desired_version + 1, updated_at = $3 WHERE app = $1 AND group_id = ANY($2::uuid[])`, [app, groupIds, at]);
}

/** Forget what we pushed (reconcile --fix after reading the app's real members) and owe a sync. */
export async function resetPushedMembers(q: Q, app: string, groupId: string, actual: Array<[string, string]>, at: Date): Promise<void> {
  await q.query(`DELETE FROM app_group_member WHERE app = $1 AND group_id = $2`, [app, groupId]);
  if (actual.length)
    await q.query(
      `INSERT INTO app_group_member (app, group_id, user_id, remote_user_id, created_at)
       SELECT $1, $2, u::uuid, r, $5 FROM unnest($3::text[], $4::text[]) AS x(u, r) ON CONFLICT DO NOTHING`,
      [app, groupId, actual.map((a) => a[0]), actual.map((a) => a[1]), at]);
  await q.query(`UPDATE app_group SET status = 'pending', desired_version = desired_version + 1, updated_at = $3 WHERE app = $1 AND group_id = $2`, [app, groupId, at]);
}

/** Marks pending, and queues the sync of, every pushed group the user is (or was pushed as) a member of in this app. */
export async function queueGroupsOfUser(tx: Q, app: string, userId: string, groupNames: string[], at: Date): Promise<void> {
  const { rows } = await tx.query(
    `WITH gs AS (
       SELECT g.id AS group_id, g.display_name FROM group_member gm JOIN scim_group g ON g.id = gm.group_id
        WHERE gm.user_id = $2 AND g.display_name = ANY($3::text[])
       UNION SELECT m.group_id, ag.group_name FROM app_group_member m JOIN app_group ag ON ag.app = m.app AND ag.group_id = m.group_id
        WHERE m.app = $1 AND m.user_id = $2)
     INSERT INTO app_group AS a (app, group_id, group_name, pending_since, updated_at)
     SELECT DISTINCT ON (group_id) $1, group_id, display_name, $4::timestamptz, $4::timestamptz FROM gs
     ON CONFLICT (app, group_id) DO UPDATE SET desired_version = a.desired_version + 1, status = 'pending', attempts = 0,
            pending_since = coalesce(a.pending_since, EXCLUDED.pending_since), updated_at = EXCLUDED.updated_at
     RETURNING group_id`,
    [app, userId, groupNames, at]);
  for (const r of rows) await enqueueGroupJobs(tx, r.group_id, [app]);
}
