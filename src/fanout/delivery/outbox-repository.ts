// SQL of the transactional outbox (outbox.ts): inside the HR request's transaction, one statement reads what
// the outbox needs of a user, one marks the accounts (or a group) pending and adds their jobs — whatever the
// number of apps. Job keys come from jobs/fanout-jobs.ts (their SQL forms).
import type pg from "pg";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import type { UserRow } from "../../store/rows.ts";
import type { GroupRef } from "../../scim/user-resource.ts";
import { batchJobKeySql, bucketOf, GROUP_TASK, groupJobKeySql, GW_MAX_ATTEMPTS, LEAVER_TASK, leaverJobKey, PRIORITY, USER_TASK, userJobKeySql } from "../../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");

/** What the outbox reads of a user (outbox.ts). */
export interface OutboxUser { user: UserRow | null; userName: string | null; groups: GroupRef[]; accounts: Record<string, string>; knownName: string | null }

/**
 * The user as it is in this transaction (null once deleted), its groups, its accounts' status per app, and a
 * userName the accounts remember (for a user already gone).
 */
export async function readUserForOutbox(tx: Q, userId: string): Promise<OutboxUser> {
  return (await readUsersForOutbox(tx, [userId])).get(userId)!;
}

/** readUserForOutbox for many users in one statement (a batch of creates), by user id. */
export async function readUsersForOutbox(tx: Q, userIds: readonly string[]): Promise<Map<string, OutboxUser>> {
  const { rows } = await tx.query({ name: "fanout_outbox_read", text:
    `SELECT k.id AS key_id, ${U},
            CASE WHEN u.id IS NULL THEN '[]'::json ELSE
              (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name)), '[]'::json)
                 FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = k.id)) END AS groups,
            (SELECT coalesce(json_object_agg(a.app, a.status), '{}'::json) FROM app_account a WHERE a.user_id = k.id) AS accounts,
            (SELECT min(a.user_name) FROM app_account a WHERE a.user_id = k.id) AS known_name
       FROM unnest($1::uuid[]) AS k(id) LEFT JOIN scim_user u ON u.id = k.id`,
    values: [userIds] });
  return new Map(rows.map((r) => [r.key_id as string,
    { user: r.id === null ? null : rowToUser(r), userName: r.user_name, groups: r.groups, accounts: r.accounts, knownName: r.known_name }]));
}

/** What an account row becomes when a change makes it pending again (the same for one user and for many). */
const PENDING_AGAIN = `desired_version = a.desired_version + 1, status = 'pending', attempts = 0,
              leaver = EXCLUDED.leaver OR (a.leaver AND a.delivered_version < a.desired_version),
              change_id = coalesce(EXCLUDED.change_id, a.change_id),
              user_name = CASE WHEN EXCLUDED.user_name = '' THEN a.user_name ELSE EXCLUDED.user_name END,
              pending_since = coalesce(a.pending_since, EXCLUDED.pending_since), updated_at = EXCLUDED.updated_at`;

/** One user of markUsersPending: the apps it is owed a delivery in. */
export interface UserOutboxItem { userId: string; userName: string; apps: readonly string[]; changeId: number | null; at: Date }

/**
 * writeUserOutbox's account rows for many users that are not leavers (a batch of creates), in one statement;
 * their jobs are added by the caller (addJobSpecs: one spec per app bucket, whatever the number of users).
 */
export async function markUsersPending(tx: Q, items: readonly UserOutboxItem[]): Promise<void> {
  const pairs = items.flatMap((i) => i.apps.map((app) => ({ app, i })));
  await tx.query({ name: "fanout_outbox_users", text:
    `INSERT INTO app_account AS a (app, user_id, user_name, leaver, change_id, pending_since, updated_at)
     SELECT x.app, x.user_id, x.user_name, false, x.change_id, x.at, x.at
       FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::timestamptz[]) AS x(app, user_id, user_name, change_id, at)
     ON CONFLICT (app, user_id) DO UPDATE SET ${PENDING_AGAIN}`,
    values: [pairs.map((p) => p.app), pairs.map((p) => p.i.userId), pairs.map((p) => p.i.userName), pairs.map((p) => p.i.changeId), pairs.map((p) => p.i.at)] });
}

/**
 * Marks the user's accounts in `apps` pending, opens a leaver's SLA row, and adds the delivery jobs. Returns
 * the job keys graphile-worker wrote (add_jobs can skip one, see addJobSpecs). `leaverJobDelayMs` > 0: the
 * committing process delivers this leaver itself (leaver-fast-path.ts), so instead of a job per app one
 * guarantee job (LEAVER_TASK) is added, to run after that delay — one spec, one worker woken, not one per app.
 */
export async function writeUserOutbox(tx: Q, apps: readonly string[], e: { userId: string; userName: string; leaver: boolean; changeId: number | null; at: Date; leaverJobDelayMs?: number }): Promise<Set<string>> {
  const { rows } = await tx.query({ name: "fanout_outbox_user", text:
    `WITH acc AS (
       INSERT INTO app_account AS a (app, user_id, user_name, leaver, change_id, pending_since, updated_at)
       SELECT unnest($1::text[]), $2::uuid, $3::text, $4::boolean, $5::bigint, $6::timestamptz, $6::timestamptz
       ON CONFLICT (app, user_id) DO UPDATE SET ${PENDING_AGAIN}
       RETURNING app),
     sla AS (
       INSERT INTO leaver_sla (user_id, user_name, change_id, requested_at, apps_total, pending_apps)
       SELECT $2::uuid, nullif($3::text, ''), $5::bigint, coalesce((SELECT c.created_at FROM change_record c WHERE c.id = $5::bigint), $6::timestamptz), cardinality($1::text[]), $1::text[]
        WHERE $4::boolean
       RETURNING id),
     -- A leaver's job is its own (nothing queues before it); other changes join their bucket's batch job
     -- (user-batch.ts): graphile-worker appends array payloads of the same pending key.
     jobs AS (
       SELECT key FROM graphile_worker.add_jobs(CASE WHEN $4::boolean AND $11::int > 0
         THEN ARRAY[ROW($12::text, json_build_object('userId', $2::uuid::text, 'apps', $1::text[]), NULL,
                        now() + $11::int * interval '1 millisecond', $8::int, $13::text, $9::int, NULL)::graphile_worker.job_spec]
         ELSE (SELECT array_agg(CASE WHEN $4::boolean
                   THEN ROW($7::text, json_build_object('app', a, 'userId', $2::uuid::text), NULL, NULL, $8::int,
                            ${userJobKeySql("a", "$2::uuid::text")}, $9::int, NULL)::graphile_worker.job_spec
                   ELSE ROW($7::text, json_build_array(json_build_object('app', a, 'userId', $2::uuid::text)), NULL, NULL, $8::int,
                            ${batchJobKeySql("a", "$10::int")}, $9::int, NULL)::graphile_worker.job_spec END)
            FROM unnest($1::text[]) AS a) END, false))
     SELECT (SELECT count(*) FROM acc) AS accounts, (SELECT count(*) FROM sla) AS slas, (SELECT coalesce(array_agg(key), '{}') FROM jobs) AS keys`,
    values: [apps, e.userId, e.userName, e.leaver, e.changeId, e.at, USER_TASK, GW_MAX_ATTEMPTS, e.leaver ? PRIORITY.leaver : PRIORITY.user, bucketOf(e.userId), e.leaverJobDelayMs ?? 0, LEAVER_TASK, leaverJobKey(e.userId)] });
  return new Set<string>(rows[0].keys);
}

/** Marks the group pending in `apps` and adds its sync jobs; returns the job keys written. */
export async function writeGroupOutbox(tx: Q, apps: readonly string[], e: { groupId: string; groupName: string; at: Date }): Promise<Set<string>> {
  const { rows } = await tx.query({ name: "fanout_outbox_group", text:
    `WITH g AS (
       INSERT INTO app_group AS a (app, group_id, group_name, pending_since, updated_at)
       SELECT unnest($1::text[]), $2::uuid, $3::text, $4::timestamptz, $4::timestamptz
       ON CONFLICT (app, group_id) DO UPDATE SET desired_version = a.desired_version + 1, status = 'pending', attempts = 0,
              group_name = EXCLUDED.group_name, pending_since = coalesce(a.pending_since, EXCLUDED.pending_since), updated_at = EXCLUDED.updated_at
       RETURNING app),
     jobs AS (
       SELECT key FROM graphile_worker.add_jobs(
         (SELECT array_agg(ROW($5::text, json_build_object('app', a, 'groupId', $2::uuid::text), NULL, NULL, $6::int,
                   ${groupJobKeySql("a", "$2::uuid::text")}, $7::int, NULL)::graphile_worker.job_spec) FROM unnest($1::text[]) AS a), false))
     SELECT (SELECT count(*) FROM g) AS groups, (SELECT coalesce(array_agg(key), '{}') FROM jobs) AS keys`,
    values: [apps, e.groupId, e.groupName, e.at, GROUP_TASK, GW_MAX_ATTEMPTS, PRIORITY.group] });
  return new Set<string>(rows[0].keys);
}

/**
 * Removes a fast-pathed leaver's guarantee job once the fast path settled every one of its `total` apps at
 * the version it claimed. The account rows are locked first, so an HR change committing meanwhile either
 * bumped a version before (not all match: the job stays and runs) or waits for this statement and then adds
 * a fresh job. Returns whether the job was removed.
 */
export async function removeLeaverGuard(q: Q, userId: string, settled: ReadonlyArray<{ app: string; version: number }>, total: number): Promise<boolean> {
  if (settled.length < total) return false;
  const { rows } = await q.query({ name: "fanout_fast_path_done", text:
    `WITH a AS (
       SELECT a.app FROM app_account a JOIN unnest($2::text[], $3::int[]) AS s(app, version) ON s.app = a.app
        WHERE a.user_id = $1::uuid AND a.desired_version = s.version
          FOR UPDATE OF a)
     SELECT (graphile_worker.remove_job($4)).id FROM (SELECT count(*) AS n FROM a) AS c WHERE c.n = $5`,
    values: [userId, settled.map((s) => s.app), settled.map((s) => s.version), leaverJobKey(userId), total] });
  return rows.length > 0 && rows[0].id !== null;
}

/** The apps of `apps` where the user's latest change is not delivered yet (a leaver guarantee job's work). */
export async function appsOwed(q: Q, userId: string, apps: readonly string[]): Promise<string[]> {
  const { rows } = await q.query(`SELECT app FROM app_account WHERE user_id = $1::uuid AND app = ANY($2::text[]) AND delivered_version < desired_version`, [userId, apps]);
  return rows.map((r) => r.app as string);
}
