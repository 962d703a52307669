// SQL of the transactional outbox (outbox.ts): inside the HR request's transaction, one statement reads what
// the outbox needs of a user, one marks the accounts (or a group) pending and adds their jobs — whatever the
// number of apps. Job keys come from jobs/fanout-jobs.ts (their SQL forms).
import type pg from "pg";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import type { UserRow } from "../../store/rows.ts";
import type { GroupRef } from "../../scim/user-resource.ts";
import { batchJobKeySql, bucketOf, GROUP_TASK, groupJobKeySql, GW_MAX_ATTEMPTS, PRIORITY, USER_TASK, userJobKeySql } from "../../jobs/fanout-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");

/**
 * The user as it is in this transaction (null once deleted), its groups, its accounts' status per app, and a
 * userName the accounts remember (for a user already gone).
 */
export async function readUserForOutbox(tx: Q, userId: string): Promise<{ user: UserRow | null; userName: string | null; groups: GroupRef[]; accounts: Record<string, string>; knownName: string | null }> {
  const { rows } = await tx.query({ name: "fanout_outbox_read", text:
    `SELECT ${U},
            CASE WHEN u.id IS NULL THEN '[]'::json ELSE
              (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name)), '[]'::json)
                 FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = $1::uuid)) END AS groups,
            (SELECT coalesce(json_object_agg(a.app, a.status), '{}'::json) FROM app_account a WHERE a.user_id = $1::uuid) AS accounts,
            (SELECT min(a.user_name) FROM app_account a WHERE a.user_id = $1::uuid) AS known_name
       FROM (SELECT 1) AS one LEFT JOIN scim_user u ON u.id = $1::uuid`,
    values: [userId] });
  const r = rows[0];
  return { user: r.id === null ? null : rowToUser(r), userName: r.user_name, groups: r.groups, accounts: r.accounts, knownName: r.known_name };
}

/**
 * Marks the user's accounts in `apps` pending, opens a leaver's SLA row, and adds the delivery jobs. Returns
 * the job keys graphile-worker wrote (add_jobs can skip one, see addJobSpecs).
 */
export async function writeUserOutbox(tx: Q, apps: readonly string[], e: { userId: string; userName: string; leaver: boolean; changeId: number | null; at: Date }): Promise<Set<string>> {
  const { rows } = await tx.query({ name: "fanout_outbox_user", text:
    `WITH acc AS (
       INSERT INTO app_account AS a (app, user_id, user_name, leaver, change_id, pending_since, updated_at)
       SELECT unnest($1::text[]), $2::uuid, $3::text, $4::boolean, $5::bigint, $6::timestamptz, $6::timestamptz
       ON CONFLICT (app, user_id) DO UPDATE SET desired_version = a.desired_version + 1, status = 'pending', attempts = 0,
              leaver = EXCLUDED.leaver OR (a.leaver AND a.delivered_version < a.desired_version),
              change_id = coalesce(EXCLUDED.change_id, a.change_id),
              user_name = CASE WHEN EXCLUDED.user_name = '' THEN a.user_name ELSE EXCLUDED.user_name END,
              pending_since = coalesce(a.pending_since, EXCLUDED.pending_since), updated_at = EXCLUDED.updated_at
       RETURNING app),
     sla AS (
       INSERT INTO leaver_sla (user_id, user_name, change_id, requested_at, apps_total, pending_apps)
       SELECT $2::uuid, nullif($3::text, ''), $5::bigint, coalesce((SELECT c.created_at FROM change_record c WHERE c.id = $5::bigint), $6::timestamptz), cardinality($1::text[]), $1::text[]
        WHERE $4::boolean
       RETURNING id),
     -- A leaver's job is its own (nothing queues before it); other changes join their bucket's batch job
     -- (user-batch.ts): graphile-worker appends array payloads of the same pending key.
     jobs AS (
       SELECT key FROM graphile_worker.add_jobs(
         (SELECT array_agg(CASE WHEN $4::boolean
                   THEN ROW($7::text, json_build_object('app', a, 'userId', $2::uuid::text), NULL, NULL, $8::int,
                            ${userJobKeySql("a", "$2::uuid::text")}, $9::int, NULL)::graphile_worker.job_spec
                   ELSE ROW($7::text, json_build_array(json_build_object('app', a, 'userId', $2::uuid::text)), NULL, NULL, $8::int,
                            ${batchJobKeySql("a", "$10::int")}, $9::int, NULL)::graphile_worker.job_spec END)
            FROM unnest($1::text[]) AS a), false))
     SELECT (SELECT count(*) FROM acc) AS accounts, (SELECT count(*) FROM sla) AS slas, (SELECT coalesce(array_agg(key), '{}') FROM jobs) AS keys`,
    values: [apps, e.userId, e.userName, e.leaver, e.changeId, e.at, USER_TASK, GW_MAX_ATTEMPTS, e.leaver ? PRIORITY.leaver : PRIORITY.user, bucketOf(e.userId)] });
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
