// Set-at-a-time versions of claimUser/completeUser (account-repository.ts) for batch jobs: one statement
// claims the leases of up to a hundred (app, user) keys and reads their users, one statement records
// their outcomes, SLA confirmations and audit events. Same semantics per row; a backlog then costs a few
// round trips per hundred deliveries instead of four per delivery.
import type pg from "pg";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import { auditInsert } from "../../audit/audit-log.ts";
import { ACCOUNT_COLUMNS, rowToAccount, type AppGate, type ClaimedUser, type Completion, type CompletionResult } from "./account-repository.ts";

type Q = Pick<pg.PoolClient, "query">;

const A = ACCOUNT_COLUMNS.map((c) => `c.${c} AS a_${c}`).join(", ");
const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");

/** The app's gate (disabled, quarantined, paused) on its own: a batch checks it before claiming anything. */
export async function appGate(q: Q, app: string): Promise<AppGate> {
  const { rows } = await q.query({ name: "fanout_app_gate", text: `SELECT disabled, quarantined, probe_at, paused_until, consecutive_failures FROM app_state WHERE app = $1`, values: [app] });
  const r = rows[0];
  return r
    ? { disabled: r.disabled, quarantined: r.quarantined, probeAt: r.probe_at, pausedUntil: r.paused_until, failures: r.consecutive_failures }
    : { disabled: false, quarantined: false, probeAt: null, pausedUntil: null, failures: 0 };
}

export interface ClaimedBatch {
  claimed: ClaimedUser[];
  /** Keys whose lease another delivery holds, with its expiry. */
  busy: Array<{ userId: string; until: Date }>;
  /** Keys without an account row. */
  missing: string[];
}

export async function claimUsers(q: Q, app: string, userIds: readonly string[], owner: string, leaseMs: number, gate: AppGate): Promise<ClaimedBatch> {
  const { rows } = await q.query({ name: "fanout_claim_users", text:
    `WITH c AS (
       UPDATE app_account SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
        WHERE app = $1 AND user_id = ANY($2::uuid[]) AND (lease_until IS NULL OR lease_until < now())
       RETURNING *)
     SELECT ${A}, ${U},
            (SELECT ls.status IN ('held', 'kept') FROM lifecycle_state ls WHERE ls.user_id = c.user_id) AS held,
            CASE WHEN u.id IS NULL THEN '[]'::json ELSE
              (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name) ORDER BY g.display_name), '[]'::json)
                 FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = c.user_id)) END AS groups
       FROM c LEFT JOIN scim_user u ON u.id = c.user_id`,
    values: [app, userIds, owner, leaseMs] });
  const claimed = rows.map((r): ClaimedUser => ({
    account: rowToAccount(r, "a_"), gate, user: r.id === null ? null : rowToUser(r), held: r.held === true, groups: r.groups,
  }));
  const got = new Set(claimed.map((c) => c.account.userId));
  const rest = userIds.filter((u) => !got.has(u));
  const busy: ClaimedBatch["busy"] = [];
  const missing: string[] = [];
  if (rest.length) {
    const held = await q.query(`SELECT user_id, lease_until FROM app_account WHERE app = $1 AND user_id = ANY($2::uuid[])`, [app, rest]);
    const until = new Map(held.rows.map((r) => [r.user_id as string, (r.lease_until as Date | null) ?? new Date(0)]));
    for (const u of rest) (until.has(u) ? busy.push({ userId: u, until: until.get(u)! }) : missing.push(u));
  }
  return { claimed, busy, missing };
}

/**
 * claimUser for one user in many apps at once (the leaver fast path, leaver-fast-path.ts): one statement
 * takes the leases, reads each app's gate and the user with its groups. Per app: the claim, "busy" (another
 * delivery holds the lease until then), or absent from the map (no account row).
 */
export async function claimUserInApps(q: Q, userId: string, apps: ReadonlyArray<{ app: string; leaseMs: number }>, owner: string): Promise<Map<string, ClaimedUser | { busy: Date }>> {
  const { rows } = await q.query({ name: "fanout_claim_user_apps", text:
    `WITH x AS (SELECT * FROM unnest($2::text[], $3::int[]) AS x(app, lease_ms)),
     c AS (
       UPDATE app_account t SET lease_owner = $4, lease_until = now() + x.lease_ms * interval '1 millisecond'
         FROM x WHERE t.app = x.app AND t.user_id = $1::uuid AND (t.lease_until IS NULL OR t.lease_until < now())
       RETURNING t.*),
     u AS (SELECT * FROM scim_user WHERE id = $1::uuid),
     -- what every app's delivery reads of the user, read once (not once per app row)
     f AS (SELECT (SELECT ls.status IN ('held', 'kept') FROM lifecycle_state ls WHERE ls.user_id = $1::uuid) AS held,
                  CASE WHEN NOT EXISTS (SELECT 1 FROM u) THEN '[]'::json ELSE
                    (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name) ORDER BY g.display_name), '[]'::json)
                       FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = $1::uuid)) END AS groups)
     SELECT x.app AS x_app, c.app IS NOT NULL AS claimed, b.app IS NOT NULL AS busy, b.lease_until AS busy_until, ${A}, ${U},
            coalesce(s.disabled, false) AS s_disabled, coalesce(s.quarantined, false) AS s_quarantined, s.probe_at AS s_probe_at,
            s.paused_until AS s_paused_until, coalesce(s.consecutive_failures, 0) AS s_failures, f.held, f.groups
       FROM x CROSS JOIN f
              LEFT JOIN c ON c.app = x.app
              LEFT JOIN app_account b ON c.app IS NULL AND b.app = x.app AND b.user_id = $1::uuid
              LEFT JOIN u ON c.app IS NOT NULL
              LEFT JOIN app_state s ON s.app = x.app`,
    values: [userId, apps.map((a) => a.app), apps.map((a) => a.leaseMs), owner] });
  const out = new Map<string, ClaimedUser | { busy: Date }>();
  for (const r of rows) {
    if (r.claimed) {
      out.set(r.x_app, {
        account: rowToAccount(r, "a_"),
        gate: { disabled: r.s_disabled, quarantined: r.s_quarantined, probeAt: r.s_probe_at, pausedUntil: r.s_paused_until, failures: r.s_failures },
        user: r.id === null ? null : rowToUser(r), held: r.held === true, groups: r.groups,
      });
    } else if (r.busy) {
      out.set(r.x_app, { busy: r.busy_until ?? new Date(0) /* no end recorded: look again at once */ });
    }
  }
  return out;
}

/**
 * What recording an outcome sets on an account row `t` from the outcome row `x` (remote_id, version, hash,
 * status, attrs; `$9` the time): the same for the batch of users and the fast path's batch of apps. A newer
 * desired version keeps the account pending (its job delivers it next).
 */
const RECORD_OUTCOME = `remote_id = x.remote_id, delivered_version = x.version, delivered_hash = x.hash, delivered_at = $9, updated_at = $9,
              delivered_attrs = CASE WHEN x.attrs IS NULL THEN t.delivered_attrs ELSE ARRAY(SELECT jsonb_array_elements_text(x.attrs::jsonb)) END,
              status = CASE WHEN t.desired_version > x.version THEN 'pending' ELSE x.status END,
              pending_since = CASE WHEN t.desired_version > x.version THEN t.pending_since END,
              leaver = CASE WHEN t.desired_version > x.version THEN t.leaver ELSE false END,
              attempts = 0, last_error = NULL, lease_owner = NULL, lease_until = NULL`;

/** Records many outcomes (same effects as completeUser per row) in one statement. */
export async function completeUsers(q: Q, app: string, owner: string, items: ReadonlyArray<{ userId: string; c: Completion }>, at: Date): Promise<Map<string, CompletionResult>> {
  const audit = items.flatMap((i) => i.c.audit ?? []);
  const { rows } = await q.query({ name: "fanout_complete_users", text:
    `WITH x AS (
       SELECT * FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::boolean[], $16::text[]) AS x(user_id, remote_id, version, hash, status, confirms, attrs)),
     a AS (
       UPDATE app_account t SET ${RECORD_OUTCOME}
         FROM x WHERE t.app = $1 AND t.user_id = x.user_id AND t.lease_owner = $2
       RETURNING t.user_id, t.desired_version, x.version, x.confirms),
     sla AS (
       UPDATE leaver_sla SET pending_apps = array_remove(pending_apps, $1),
              completed_at = CASE WHEN cardinality(array_remove(pending_apps, $1)) = 0 THEN $9 END
        WHERE user_id IN (SELECT user_id FROM a WHERE confirms) AND completed_at IS NULL AND $1 = ANY(pending_apps)
       RETURNING user_id, requested_at, completed_at),
     audit AS (${AUDIT_SQL})
     SELECT a.user_id, a.desired_version, a.version, coalesce((SELECT quarantined FROM app_state WHERE app = $1), false) AS app_quarantined,
            (SELECT coalesce(json_agg(json_build_object('requestedAt', s.requested_at, 'completedAt', s.completed_at)), '[]'::json)
               FROM sla s WHERE s.user_id = a.user_id AND s.completed_at IS NOT NULL) AS slas
       FROM a`,
    values: [app, owner, items.map((i) => i.userId), items.map((i) => i.c.remoteId), items.map((i) => i.c.version), items.map((i) => i.c.hash),
      items.map((i) => i.c.status), items.map((i) => i.c.confirmsLeaver), ...auditInsert(audit, at, 9).params,
      items.map((i) => (i.c.attrs ? JSON.stringify(i.c.attrs) : null))] });
  const out = new Map<string, CompletionResult>();
  for (const i of items) out.set(i.userId, { recorded: false, newer: false, completedSlas: [] });
  for (const r of rows) {
    out.set(r.user_id, {
      recorded: true, newer: r.desired_version > r.version, appQuarantined: r.app_quarantined === true,
      completedSlas: (r.slas as Array<{ requestedAt: string; completedAt: string }>).map((s) => ({ requestedAt: new Date(s.requestedAt), completedAt: new Date(s.completedAt) })),
    });
  }
  return out;
}

/**
 * completeUser for one user in many apps at once (the leaver fast path): one statement records every app's
 * outcome, closes the leaver's SLA row once (one row lock instead of one per app, which queued the apps'
 * records behind each other) and appends the audit events. Per app: its CompletionResult; the SLAs closed
 * are reported with the first app only, so that they are observed once.
 */
export async function completeUserInApps(q: Q, userId: string, owner: string, items: ReadonlyArray<{ app: string; c: Completion }>, at: Date): Promise<Map<string, CompletionResult>> {
  const audit = items.flatMap((i) => i.c.audit ?? []);
  const { rows } = await q.query({ name: "fanout_complete_user_apps", text:
    `WITH x AS (
       SELECT * FROM unnest($3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::boolean[], $16::text[]) AS x(app, remote_id, version, hash, status, confirms, attrs)),
     a AS (
       UPDATE app_account t SET ${RECORD_OUTCOME}
         FROM x WHERE t.user_id = $1::uuid AND t.app = x.app AND t.lease_owner = $2
       RETURNING t.app, t.desired_version, x.version, x.confirms),
     confirmed AS (SELECT coalesce(array_agg(app), '{}') AS apps FROM a WHERE confirms),
     sla AS (
       UPDATE leaver_sla SET pending_apps = ARRAY(SELECT p FROM unnest(pending_apps) AS p WHERE p <> ALL ((SELECT apps FROM confirmed)::text[])),
              completed_at = CASE WHEN pending_apps <@ (SELECT apps FROM confirmed) THEN $9 END
        WHERE user_id = $1::uuid AND completed_at IS NULL AND pending_apps && (SELECT apps FROM confirmed)
       RETURNING requested_at, completed_at),
     audit AS (${AUDIT_SQL})
     SELECT a.app, a.desired_version, a.version, coalesce((SELECT quarantined FROM app_state s WHERE s.app = a.app), false) AS app_quarantined,
            (SELECT coalesce(json_agg(json_build_object('requestedAt', s.requested_at, 'completedAt', s.completed_at)), '[]'::json)
               FROM sla s WHERE s.completed_at IS NOT NULL) AS slas
       FROM a ORDER BY a.app`,
    values: [userId, owner, items.map((i) => i.app), items.map((i) => i.c.remoteId), items.map((i) => i.c.version), items.map((i) => i.c.hash),
      items.map((i) => i.c.status), items.map((i) => i.c.confirmsLeaver), ...auditInsert(audit, at, 9).params,
      items.map((i) => (i.c.attrs ? JSON.stringify(i.c.attrs) : null))] });
  const out = new Map<string, CompletionResult>();
  for (const i of items) out.set(i.app, { recorded: false, newer: false, completedSlas: [] });
  let slasReported = false;
  for (const r of rows) {
    const slas = slasReported ? [] : (r.slas as Array<{ requestedAt: string; completedAt: string }>);
    slasReported = true;
    out.set(r.app, {
      recorded: true, newer: r.desired_version > r.version, appQuarantined: r.app_quarantined === true,
      completedSlas: slas.map((s) => ({ requestedAt: new Date(s.requestedAt), completedAt: new Date(s.completedAt) })),
    });
  }
  return out;
}

/** Releases many leases (held users, a batch deferred by its gate), optionally setting a status. */
export async function releaseUsers(q: Q, app: string, owner: string, userIds: readonly string[], status: string | null, at: Date): Promise<void> {
  if (userIds.length === 0) return;
  await q.query({ name: "fanout_release_users", text:
    `UPDATE app_account SET lease_owner = NULL, lease_until = NULL, updated_at = $4, status = coalesce($5, status)
      WHERE app = $1 AND lease_owner = $2 AND user_id = ANY($3::uuid[])`, values: [app, owner, userIds, at, status] });
}

/** Marks the accounts of a deferred batch (quarantine) without claiming them. */
export async function markStatus(q: Q, app: string, userIds: readonly string[], status: string, at: Date): Promise<void> {
  if (userIds.length) await q.query(`UPDATE app_account SET status = $4, updated_at = $3 WHERE app = $1 AND user_id = ANY($2::uuid[]) AND status = 'pending'`, [app, userIds, at, status]);
}

/** The audit log's own INSERT (src/audit/audit-log.ts auditInsert), numbered $9–$15; $9 is also our `at`. */
const AUDIT_SQL = auditInsert([], new Date(0), 9).sql;
