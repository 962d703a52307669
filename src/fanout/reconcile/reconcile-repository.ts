// SQL of reconciliation (reconcile.ts) and of its recorded runs (reconcile_run): our id map of an app, every
// broker user with its groups in keyset pages, the managed groups, and the writes of a fix. Plain objects out.
import type pg from "pg";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import type { UserRow } from "../../store/rows.ts";
import type { GroupRef } from "../../scim/user-resource.ts";

type Q = Pick<pg.PoolClient, "query">;

/** Every account row of one app: which broker user, under which name, at which app id (if linked). */
export async function accountMap(q: Q, app: string): Promise<Array<{ userId: string; userName: string; remoteId: string | null }>> {
  const { rows } = await q.query(`SELECT user_id, user_name, remote_id FROM app_account WHERE app = $1`, [app]);
  return rows.map((r) => ({ userId: r.user_id, userName: r.user_name, remoteId: r.remote_id }));
}

const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");
/** The id before every user id: the first keyset page starts after it. */
export const FIRST_USER_ID = "00000000-0000-0000-0000-000000000000";

/** One keyset page of broker users (ordered by id, after `after`), each with its groups. */
export async function usersWithGroupsAfter(q: Q, after: string, limit = 1000): Promise<Array<{ user: UserRow; groups: GroupRef[] }>> {
  const { rows } = await q.query(
    `SELECT ${U}, (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name)), '[]'::json)
                     FROM group_member gm JOIN scim_group g ON g.id = gm.group_id WHERE gm.user_id = u.id) AS groups
       FROM scim_user u WHERE u.id > $1::uuid ORDER BY u.id LIMIT $2`, [after, limit]);
  return rows.map((r) => ({ user: rowToUser(r), groups: r.groups }));
}

/** A managed group by its identifier key, with the app's id for it if we pushed it before. */
export async function managedGroup(q: Q, app: string, displayNameKey: string): Promise<{ id: string; remoteId: string | null } | null> {
  const { rows } = await q.query(
    `SELECT g.id, ag.remote_id FROM scim_group g LEFT JOIN app_group ag ON ag.app = $2 AND ag.group_id = g.id WHERE g.display_name_key = $1`,
    [displayNameKey, app]);
  return rows[0] ? { id: rows[0].id, remoteId: rows[0].remote_id } : null;
}

/** The broker users whose accounts in the app have these app ids: app id → user id. */
export async function usersOfRemoteIds(q: Q, app: string, remoteIds: readonly string[]): Promise<Map<string, string>> {
  const { rows } = await q.query(`SELECT user_id, remote_id FROM app_account WHERE app = $1 AND remote_id = ANY($2::text[])`, [app, remoteIds]);
  return new Map(rows.map((r) => [r.remote_id as string, r.user_id as string]));
}

/** Account rows for users that have none yet (a missing account, a deleted user's), owed since `at`. */
export async function ensureAccounts(q: Q, app: string, users: ReadonlyArray<{ userId: string; userName: string }>, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO app_account (app, user_id, user_name, pending_since) SELECT $1, u, n, $4 FROM unnest($2::uuid[], $3::text[]) AS x(u, n) ON CONFLICT DO NOTHING`,
    [app, users.map((u) => u.userId), users.map((u) => u.userName), at]);
}

/**
 * Records the app ids found by matching. Never a remote id another broker user already holds: app_account
 * is unique per app both ways.
 */
export async function linkRemoteIds(q: Q, app: string, links: ReadonlyArray<{ userId: string; remoteId: string }>): Promise<void> {
  if (links.length === 0) return;
  await q.query(
    `UPDATE app_account a SET remote_id = x.remote_id FROM unnest($2::uuid[], $3::text[]) AS x(user_id, remote_id)
      WHERE a.app = $1 AND a.user_id = x.user_id
        AND NOT EXISTS (SELECT 1 FROM app_account o WHERE o.app = $1 AND o.remote_id = x.remote_id AND o.user_id <> x.user_id)`,
    [app, links.map((l) => l.userId), links.map((l) => l.remoteId)]);
}

/** Owned attribute paths the app holds that HR cleared: recorded as delivered, so the next delivery removes them. */
export async function addStaleDeliveredAttrs(q: Q, app: string, stale: ReadonlyArray<{ userId: string; paths: readonly string[] }>): Promise<void> {
  if (stale.length === 0) return;
  await q.query(
    `UPDATE app_account a SET delivered_attrs = ARRAY(SELECT DISTINCT unnest(coalesce(a.delivered_attrs, '{}') || ARRAY(SELECT jsonb_array_elements_text(x.stale::jsonb))))
       FROM unnest($2::uuid[], $3::text[]) AS x(user_id, stale) WHERE a.app = $1 AND a.user_id = x.user_id`,
    [app, stale.map((s) => s.userId), stale.map((s) => JSON.stringify(s.paths))]);
}

/** The app_group row of a managed group the app should hold, if there is none yet (owed since `at`). */
export async function ensureAppGroup(q: Q, app: string, groupId: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO app_group (app, group_id, group_name, pending_since) SELECT $1, id, display_name, $3 FROM scim_group WHERE id = $2 ON CONFLICT DO NOTHING`,
    [app, groupId, at]);
}

// --- reconcile_run: the recorded runs (fanout-service.ts) ---

export async function insertReconcileRun(q: Q, app: string, fix: boolean, trigger: string): Promise<number> {
  const { rows } = await q.query(`INSERT INTO reconcile_run (app, fix, trigger) VALUES ($1, $2, $3) RETURNING id`, [app, fix, trigger]);
  return Number(rows[0].id);
}

export async function finishReconcileRun(q: Q, id: number, outcome: { report: object } | { error: string }): Promise<void> {
  if ("report" in outcome) await q.query(`UPDATE reconcile_run SET finished_at = now(), report = $2 WHERE id = $1`, [id, JSON.stringify(outcome.report)]);
  else await q.query(`UPDATE reconcile_run SET finished_at = now(), error = $2 WHERE id = $1`, [id, outcome.error]);
}

/** The app's last five runs, their counts only. */
export async function recentReconcileRuns(q: Q, app: string): Promise<Array<Record<string, unknown>>> {
  const { rows } = await q.query(`SELECT id, fix, trigger, started_at, finished_at, error, report->'counts' AS counts FROM reconcile_run WHERE app = $1 ORDER BY id DESC LIMIT 5`, [app]);
  return rows;
}

export async function reconcileRun(q: Q, id: number) {
  const { rows } = await q.query(`SELECT * FROM reconcile_run WHERE id = $1`, [id]);
  const r = rows[0];
  if (!r) return null;
  return { id: Number(r.id), app: r.app as string, fix: r.fix as boolean, trigger: r.trigger as string, startedAt: r.started_at as Date, finishedAt: r.finished_at as Date | null, error: r.error as string | null, report: r.report };
}
