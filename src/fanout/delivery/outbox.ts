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
import type { FanoutPort, MembershipChangedEvent, UserChangedEvent } from "../../lifecycle/fanout-port.ts";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import type { AppRegistry } from "../apps/app-registry.ts";
import { wantsAccount } from "./desired-state.ts";
import { addJobSpecs, batchJobKeySql, bucketOf, GROUP_TASK, groupJobKey, groupJobKeySql, GW_MAX_ATTEMPTS, PRIORITY, USER_TASK, userJobKeySql, userJobSpecs } from "../../jobs/fanout-jobs.ts";

const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");

export class FanoutOutbox implements FanoutPort {
  constructor(private readonly apps: AppRegistry) {}

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
    // add_jobs can skip a spec whose pending job a worker locked meanwhile (see addJobSpecs): add those again.
    const written = new Set<string>(rows[0].keys);
    const missed = apps.filter((a) => !written.has(groupJobKey(a, e.groupId)));
    if (missed.length) await addJobSpecs(tx, missed.map((app) => ({ task: GROUP_TASK, payload: { app, groupId: e.groupId }, key: groupJobKey(app, e.groupId), priority: PRIORITY.group })));
  }

  async #enqueue(tx: pg.PoolClient, e: UserChangedEvent, deleted: boolean): Promise<void> {
    if (this.apps.size === 0) return;
    const { rows } = await tx.query({ name: "fanout_outbox_read", text:
      `SELECT ${U},
              CASE WHEN u.id IS NULL THEN '[]'::json ELSE
                (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name)), '[]'::json)
                   FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = $1::uuid)) END AS groups,
              (SELECT coalesce(json_object_agg(a.app, a.status), '{}'::json) FROM app_account a WHERE a.user_id = $1::uuid) AS accounts,
              (SELECT min(a.user_name) FROM app_account a WHERE a.user_id = $1::uuid) AS known_name
         FROM (SELECT 1) AS one LEFT JOIN scim_user u ON u.id = $1::uuid`,
      values: [e.userId] });
    const r = rows[0];
    const user = r.id === null || deleted ? null : rowToUser(r);
    const accounts = r.accounts as Record<string, string>;
    const apps: string[] = [];
    for (const app of this.apps.list()) {
      const status = accounts[app.name];
      if (wantsAccount(app, user, r.groups, e.at) || (status !== undefined && status !== "deprovisioned")) apps.push(app.name);
    }
    if (apps.length === 0) return;
    const userName: string = r.user_name ?? r.known_name ?? "";
    const { rows: written_ } = await tx.query({ name: "fanout_outbox_user", text:
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
      values: [apps, e.userId, userName, e.leaver, e.changeId, e.at, USER_TASK, GW_MAX_ATTEMPTS, e.leaver ? PRIORITY.leaver : PRIORITY.user, bucketOf(e.userId)] });
    // add_jobs can skip a spec whose pending job a worker locked meanwhile (see addJobSpecs): add those again.
    const written = new Set<string>(written_[0].keys);
    const specs = userJobSpecs(apps.map((app) => ({ app, userId: e.userId, leaver: e.leaver })));
    const missed = specs.filter((s) => !written.has(s.key));
    if (missed.length) await addJobSpecs(tx, missed);
  }
}
