// SQL for app_account: the id map and per-(app, user) delivery state. Plain objects out, no ORM types.
//
// The lease: a delivery first sets lease_owner/lease_until on its row in the same statement that reads the
// user's current state, and only one statement can win that row. A second job for the same key (graphile-
// worker inserts a new one while the first runs, so an HR change made during a delivery is never lost)
// finds the lease held and re-schedules itself; the first, when it records its outcome, sees the newer
// desired_version and nudges that job. So deliveries per (app, user) never overlap, across workers and
// broker processes, and an old update can never land after a deprovision. A crashed holder's lease is
// cleared by the process registry (or expires: it outlasts the delivery's own HTTP deadline).
import type pg from "pg";
import { rowToUser, USER_COLUMNS } from "../../store/user-repository.ts";
import type { GroupRef } from "../../scim/user-resource.ts";
import { auditInsert, type AuditInput } from "../../audit/audit-log.ts";
import type { UserRow } from "../../store/rows.ts";

type Q = Pick<pg.PoolClient, "query">;

export type AccountStatus = "pending" | "delivered" | "deprovisioned" | "failed" | "quarantined";

export interface AccountRow {
  app: string;
  userId: string;
  userName: string;
  remoteId: string | null;
  status: AccountStatus;
  leaver: boolean;
  changeId: number | null;
  desiredVersion: number;
  deliveredVersion: number;
  deliveredHash: string | null;
  /** Attribute paths last delivered (owned-attributes.ts); null when not recorded yet. */
  deliveredAttrs: string[] | null;
  attempts: number;
  lastError: Record<string, unknown> | null;
  pendingSince: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AppGate {
  disabled: boolean;
  quarantined: boolean;
  probeAt: Date | null;
  pausedUntil: Date | null;
  failures: number;
}

export interface ClaimedUser {
  account: AccountRow;
  gate: AppGate;
  /** null: the user was deleted. */
  user: UserRow | null;
  /**
   * The mass-deprovision guard holds this user's leaver (lifecycle_state "held"), or an owner rejected the
   * hold ("kept"): its entitlements do not move until lifecycle says so, and neither do its app accounts.
   */
  held: boolean;
  groups: GroupRef[];
}

export const rowToAccount = (r: any, p = ""): AccountRow => ({
  app: r[`${p}app`], userId: r[`${p}user_id`], userName: r[`${p}user_name`], remoteId: r[`${p}remote_id`], status: r[`${p}status`],
  leaver: r[`${p}leaver`], changeId: r[`${p}change_id`] === null ? null : Number(r[`${p}change_id`]), desiredVersion: r[`${p}desired_version`],
  deliveredVersion: r[`${p}delivered_version`], deliveredHash: r[`${p}delivered_hash`], deliveredAttrs: r[`${p}delivered_attrs`] ?? null, attempts: r[`${p}attempts`], lastError: r[`${p}last_error`],
  pendingSince: r[`${p}pending_since`], deliveredAt: r[`${p}delivered_at`], createdAt: r[`${p}created_at`], updatedAt: r[`${p}updated_at`],
});

export const ACCOUNT_COLUMNS = ["app", "user_id", "user_name", "remote_id", "status", "leaver", "change_id", "desired_version", "delivered_version",
  "delivered_hash", "delivered_attrs", "attempts", "last_error", "pending_since", "delivered_at", "created_at", "updated_at"];
const A = ACCOUNT_COLUMNS.map((c) => `c.${c} AS a_${c}`).join(", ");
const U = USER_COLUMNS.split(",").map((c) => `u.${c.trim()}`).join(", ");

/**
 * Takes the lease and reads, in one statement, everything the delivery decides from: the account, the
 * app's gate (disabled, quarantine, Retry-After pause) and the user with its groups as they are now.
 * "busy": another delivery of this key holds the lease until `until`.
 */
export async function claimUser(q: Q, app: string, userId: string, owner: string, leaseMs: number): Promise<ClaimedUser | { busy: Date } | null> {
  const { rows } = await q.query({ name: "fanout_claim_user", text:
    `WITH c AS (
       UPDATE app_account SET lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond'
        WHERE app = $1 AND user_id = $2 AND (lease_until IS NULL OR lease_until < now())
       RETURNING *)
     SELECT ${A}, ${U},
            coalesce(s.disabled, false) AS s_disabled, coalesce(s.quarantined, false) AS s_quarantined, s.probe_at AS s_probe_at,
            s.paused_until AS s_paused_until, coalesce(s.consecutive_failures, 0) AS s_failures,
            (SELECT ls.status IN ('held', 'kept') FROM lifecycle_state ls WHERE ls.user_id = c.user_id) AS held,
            CASE WHEN u.id IS NULL THEN '[]'::json ELSE
              (SELECT coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name) ORDER BY g.display_name), '[]'::json)
                 FROM scim_group g WHERE g.id IN (SELECT gm.group_id FROM group_member gm WHERE gm.user_id = c.user_id)) END AS groups
       FROM c LEFT JOIN scim_user u ON u.id = c.user_id LEFT JOIN app_state s ON s.app = c.app`,
    values: [app, userId, owner, leaseMs] });
  const r = rows[0];
  if (!r) {
    const held = await q.query(`SELECT lease_until FROM app_account WHERE app = $1 AND user_id = $2`, [app, userId]);
    return held.rows[0] ? { busy: held.rows[0].lease_until ?? new Date(0) /* no end recorded: look again at once */ } : null;
  }
  return {
    account: rowToAccount(r, "a_"),
    gate: { disabled: r.s_disabled, quarantined: r.s_quarantined, probeAt: r.s_probe_at, pausedUntil: r.s_paused_until, failures: r.s_failures },
    user: r.id === null ? null : rowToUser(r),
    held: r.held === true,
    groups: r.groups,
  };
}

/** A row for a job that has none (an account row is normally written with its first job). */
export async function ensureAccount(q: Q, app: string, userId: string, userName: string): Promise<void> {
  await q.query(`INSERT INTO app_account (app, user_id, user_name, pending_since) VALUES ($1, $2, $3, now()) ON CONFLICT DO NOTHING`, [app, userId, userName]);
}

export interface Completion {
  remoteId: string | null;
  status: "delivered" | "deprovisioned";
  /** desired_version read at claim time: what this delivery satisfied. */
  version: number;
  hash: string;
  /** Attribute paths the app now holds from us; null keeps the recorded ones (a deprovision changes none). */
  attrs: string[] | null;
  at: Date;
  /** Deprovisioning confirmed: closes this app in the user's open leaver SLAs. */
  confirmsLeaver: boolean;
  /** Audit events recorded atomically with the outcome (only if the lease was still ours). */
  audit?: readonly AuditInput[];
}

export interface CompletionResult {
  /** False when the lease was lost (expired and taken): the outcome is not recorded, a newer delivery owns it. */
  recorded: boolean;
  /** A newer change arrived while delivering: its job must run now. */
  newer: boolean;
  /** Leaver SLAs this confirmation completed. */
  completedSlas: Array<{ requestedAt: Date; completedAt: Date }>;
  /** The app is quarantined now (a request that succeeded meanwhile releases it, app-health.ts). */
  appQuarantined?: boolean;
}

/** Records a delivered state and releases the lease; completes leaver SLAs whose last app this was. */
export async function completeUser(q: Q, app: string, userId: string, owner: string, c: Completion): Promise<CompletionResult> {
  const { rows } = await q.query({ name: "fanout_complete_user", text:
    `WITH a AS (
       UPDATE app_account SET remote_id = $4, delivered_version = $5, delivered_hash = $6, delivered_at = $7, updated_at = $7,
              delivered_attrs = coalesce($10::text[], delivered_attrs),
              status = CASE WHEN desired_version > $5 THEN 'pending' ELSE $8 END,
              pending_since = CASE WHEN desired_version > $5 THEN pending_since END,
              leaver = CASE WHEN desired_version > $5 THEN leaver ELSE false END,
              attempts = 0, last_error = NULL, lease_owner = NULL, lease_until = NULL
        WHERE app = $1 AND user_id = $2 AND lease_owner = $3
       RETURNING desired_version),
     sla AS (
       UPDATE leaver_sla SET pending_apps = array_remove(pending_apps, $1),
              completed_at = CASE WHEN cardinality(array_remove(pending_apps, $1)) = 0 THEN $7 END
        WHERE $9::boolean AND user_id = $2 AND completed_at IS NULL AND $1 = ANY(pending_apps) AND EXISTS (SELECT 1 FROM a)
       RETURNING requested_at, completed_at),
     -- The audit event is true even if the lease was lost meanwhile: the app did apply the request.
     audit AS (${AUDIT_SQL})
     SELECT (SELECT desired_version FROM a) AS desired_version,
            (SELECT coalesce(json_agg(json_build_object('requestedAt', requested_at, 'completedAt', completed_at)), '[]'::json)
               FROM sla WHERE completed_at IS NOT NULL) AS slas,
            coalesce((SELECT quarantined FROM app_state WHERE app = $1), false) AS app_quarantined`,
    values: [app, userId, owner, c.remoteId, c.version, c.hash, c.at, c.status, c.confirmsLeaver, c.attrs, ...auditInsert(c.audit ?? [], c.at, 11).params] });
  const r = rows[0];
  return {
    recorded: r.desired_version !== null,
    newer: r.desired_version !== null && r.desired_version > c.version,
    completedSlas: (r.slas as Array<{ requestedAt: string; completedAt: string }>).map((s) => ({ requestedAt: new Date(s.requestedAt), completedAt: new Date(s.completedAt) })),
    appQuarantined: r.app_quarantined === true,
  };
}

/** Releases the lease without a delivered state (re-scheduled, retrying, dead-lettered). */
export async function releaseUser(
  q: Q, app: string, userId: string, owner: string,
  patch: { status?: AccountStatus; lastError?: object | null; attempts?: number; at: Date },
): Promise<void> {
  await q.query({ name: "fanout_release_user", text:
    `UPDATE app_account SET lease_owner = NULL, lease_until = NULL, updated_at = $4,
            status = coalesce($5, status), last_error = CASE WHEN $6::boolean THEN $7::jsonb ELSE last_error END,
            attempts = coalesce($8, attempts)
      WHERE app = $1 AND user_id = $2 AND lease_owner = $3`,
    values: [app, userId, owner, patch.at, patch.status ?? null, patch.lastError !== undefined, patch.lastError === undefined ? null : JSON.stringify(patch.lastError), patch.attempts ?? null] });
}

/** Every app's account of one user (admin API: per user and app status with timestamps). */
export async function accountsOfUser(q: Q, userId: string): Promise<AccountRow[]> {
  const { rows } = await q.query(`SELECT ${ACCOUNT_COLUMNS.join(", ")} FROM app_account WHERE user_id = $1 ORDER BY app`, [userId]);
  return rows.map((r) => rowToAccount(r));
}

/** Accounts of one app, optionally by status, keyset-paged by user id. */
export async function accountsOfApp(q: Q, app: string, opts: { status?: string; after?: string; limit?: number } = {}): Promise<AccountRow[]> {
  const { rows } = await q.query(
    `SELECT ${ACCOUNT_COLUMNS.join(", ")} FROM app_account WHERE app = $1 AND ($2::text IS NULL OR status = $2) AND user_id > $3::uuid
      ORDER BY user_id LIMIT $4`,
    [app, opts.status ?? null, opts.after ?? "00000000-0000-0000-0000-000000000000", opts.limit ?? 100]);
  return rows.map((r) => rowToAccount(r));
}

/**
 * Counts per status for each app, and the app's last confirmed delivery (of a user or a group): the real
 * "last success", read in the same scan rather than written on every delivery (one hot row per app).
 */
export async function accountCounts(q: Q): Promise<Map<string, { counts: Record<string, number>; lastDeliveredAt: Date | null }>> {
  const { rows } = await q.query(
    `SELECT app, status, count(*)::int AS n, max(delivered_at) AS last FROM app_account GROUP BY app, status
     UNION ALL SELECT app, NULL, 0, max(delivered_at) FROM app_group GROUP BY app`);
  const out = new Map<string, { counts: Record<string, number>; lastDeliveredAt: Date | null }>();
  for (const r of rows) {
    const entry = out.get(r.app) ?? { counts: {}, lastDeliveredAt: null };
    if (r.status !== null) entry.counts[r.status] = r.n;
    if (r.last && (!entry.lastDeliveredAt || r.last > entry.lastDeliveredAt)) entry.lastDeliveredAt = r.last;
    out.set(r.app, entry);
  }
  return out;
}

/** Marks accounts owed again (reconcile --fix, replay): the next delivery re-sends even an equal state. */
export async function markForRedelivery(q: Q, app: string, userIds: readonly string[], at: Date): Promise<void> {
  if (userIds.length === 0) return;
  await q.query(
    `UPDATE app_account SET delivered_hash = NULL, status = 'pending', attempts = 0, desired_version = desired_version + 1,
            pending_since = coalesce(pending_since, $3), updated_at = $3
      WHERE app = $1 AND user_id = ANY($2::uuid[])`, [app, userIds, at]);
}

/** The audit log's own INSERT (src/audit/audit-log.ts auditInsert), numbered from $11, inside our statements. */
const AUDIT_SQL = auditInsert([], new Date(0), 11).sql;

/**
 * A broker user (or, deleted, the name its accounts remember) by userName — its identifier key, or the
 * accounts' user_name compared case-insensitively.
 */
export async function userIdByName(q: Q, userName: string, userNameKey: string): Promise<string | null> {
  const { rows } = await q.query(
    `SELECT id FROM scim_user WHERE user_name_key = $2 UNION ALL SELECT user_id FROM app_account WHERE lower(user_name) = lower($1) LIMIT 1`, [userName, userNameKey]);
  return rows[0]?.id ?? null;
}

/** The user an operator links (`apps link`): its userName, and whether it is a leaver (a deleted user is). */
export async function userToLink(q: Q, userId: string): Promise<{ userName: string; leaver: boolean } | null> {
  const { rows } = await q.query(
    `SELECT u.user_name, NOT u.active OR ls.status = 'leaver' AS leaver FROM scim_user u LEFT JOIN lifecycle_state ls ON ls.user_id = u.id WHERE u.id = $1
     UNION ALL SELECT user_name, true FROM app_account WHERE user_id = $1 LIMIT 1`, [userId]);
  return rows[0] ? { userName: rows[0].user_name, leaver: rows[0].leaver === true } : null;
}

/** Another broker user whose account in the app has this app id. */
export async function holderOfRemoteId(q: Q, app: string, remoteId: string, exceptUserId: string): Promise<{ userId: string; userName: string } | null> {
  const { rows } = await q.query(`SELECT user_id, user_name FROM app_account WHERE app = $1 AND remote_id = $2 AND user_id <> $3`, [app, remoteId, exceptUserId]);
  return rows[0] ? { userId: rows[0].user_id, userName: rows[0].user_name } : null;
}

/** Links the user's account to an app id (creating the row, owed since `at`); returns the id it had before. */
export async function linkAccount(q: Q, app: string, userId: string, userName: string, remoteId: string, at: Date): Promise<string | null> {
  const { rows: before } = await q.query(`SELECT remote_id FROM app_account WHERE app = $1 AND user_id = $2 FOR UPDATE`, [app, userId]);
  await q.query(
    `INSERT INTO app_account (app, user_id, user_name, remote_id, pending_since, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (app, user_id) DO UPDATE SET remote_id = EXCLUDED.remote_id`, [app, userId, userName, remoteId, at]);
  return before[0]?.remote_id ?? null;
}
