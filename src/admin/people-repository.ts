// Read-only SQL behind the console's People pages: search, and everything recorded about one person — HR
// change records, lifecycle events, audit rows, app accounts, dead letters, leaver SLAs, and the reviews,
// exceptions and tokens they name. Each read is keyed by the user's id (indexed) and bounded by LIMIT_ROWS;
// events, exceptions, dead letters and SLAs are read by their own repositories' functions.
import type pg from "pg";
import { isUuid } from "../store/user-repository.ts";
import { mapDbError, withSnapshot } from "../store/database.ts";
import { identifierKey } from "../domain/identifier.ts";
import { listEvents } from "../lifecycle/event-store.ts";
import { listExceptions } from "../lifecycle/exception-store.ts";
import { listDeadLetters } from "../fanout/delivery/dead-letter-repository.ts";
import { leaverSlasOfUser } from "../fanout/delivery/leaver-sla-repository.ts";

type Q = Pick<pg.PoolClient, "query">;

/** Newest rows kept per kind for one person's log (a long-lived account can have thousands of audit rows). */
export const LIMIT_ROWS = 500;

export interface PersonSummary {
  id: string; userName: string; displayName: string | null; givenName: string | null; familyName: string | null;
  email: string | null; employeeNumber: string | null; department: string | null; title: string | null;
  userType: string | null; active: boolean; employmentStatus: string | null; source: string | null;
  lifecycleStatus: string | null; updatedAt: Date;
}

// Names and e-mails compare by their identifier keys (docs/identifiers.md), as SCIM filters do.
const likePrefix = (s: string) => `${identifierKey(s).replace(/[\\%_]/g, "\\$&")}%`;
const PRIMARY_EMAIL = `(SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.data->'emails') = 'array' THEN u.data->'emails' ELSE '[]'::jsonb END) e
   ORDER BY (e->>'primary') = 'true' DESC NULLS LAST LIMIT 1)`;

const toSummary = (r: any): PersonSummary => ({
  id: r.id, userName: r.user_name, displayName: r.display_name, givenName: r.name?.givenName ?? null, familyName: r.name?.familyName ?? null,
  email: r.email, employeeNumber: r.employee_number, department: r.department, title: r.title, userType: r.user_type,
  active: r.active, employmentStatus: r.employment_status, source: r.source, lifecycleStatus: r.lifecycle_status, updatedAt: r.updated_at,
});

/**
 * People whose userName or an email starts with `q` (case-insensitive), or whose employeeNumber is `q`;
 * everyone without `q`; only those of `ids` when given. Ordered by userName.
 */
export async function searchPeople(q: Q, f: { query?: string; ids?: string[]; limit: number; offset: number }): Promise<{ total: number; items: PersonSummary[] }> {
  const query = f.query?.trim() || null;
  try {
    const { rows } = await q.query(
      `SELECT u.id, u.user_name, u.display_name, u.data->'name' AS name, u.employee_number, u.department, u.title, u.user_type,
              u.active, u.employment_status, u.source, u.updated_at, ${PRIMARY_EMAIL} AS email, ls.status AS lifecycle_status,
              count(*) OVER () AS total_
         FROM scim_user u LEFT JOIN lifecycle_state ls ON ls.user_id = u.id
        WHERE ($5::uuid[] IS NULL OR u.id = ANY($5::uuid[]))
          AND ($1::text IS NULL OR u.user_name_key LIKE $2 ESCAPE '\\' OR u.employee_number = $1
           OR EXISTS (SELECT 1 FROM unnest(u.email_keys) k WHERE k LIKE $2 ESCAPE '\\'))
        ORDER BY u.user_name_key LIMIT $3 OFFSET $4`,
      [query, query ? likePrefix(query) : null, f.limit, f.offset, f.ids ?? null]);
    const total = rows.length ? Number(rows[0].total_) : f.offset === 0 ? 0 : (await searchPeople(q, { ...f, limit: 1, offset: 0 })).total;
    return { total, items: rows.map(toSummary) };
  } catch (e) { mapDbError(e); }
}

/** The id of a person named by id or userName — also a deleted one, found through its accounts and SLAs. */
export async function resolvePerson(q: Q, ref: string): Promise<string | null> {
  try {
    if (isUuid(ref)) return ref.toLowerCase();
    const { rows } = await q.query(
      `SELECT id::text FROM scim_user WHERE user_name_key = $2
       UNION ALL SELECT user_id::text FROM app_account WHERE lower(user_name) = lower($1)
       UNION ALL SELECT user_id::text FROM leaver_sla WHERE lower(user_name) = lower($1)
       LIMIT 1`, [ref, identifierKey(ref)]);
    return rows[0]?.id ?? null;
  } catch (e) { mapDbError(e); }
}

export interface PersonRecords {
  user: (PersonSummary & { managerId: string | null; managerUserName: string | null; startDate: Date | null; endDate: Date | null; createdAt: Date }) | null;
  groups: Array<{ group: string; source: string; cause: Record<string, unknown> | null; since: Date }>;
  changes: Array<{ id: number; operation: string; changed: string[]; before: Record<string, unknown> | null; after: Record<string, unknown> | null; tokenName: string | null; source: string | null; requestId: string | null; at: Date }>;
  events: Array<{ id: number; kind: string; details: Record<string, unknown> | null; changeId: number | null; cause: string; held: boolean; at: Date }>;
  audit: Array<{ seq: number; kind: string; groupName: string | null; app: string | null; cause: Record<string, unknown>; details: Record<string, unknown> | null; sealed: boolean; at: Date }>;
  accounts: Array<{ app: string; userName: string; remoteId: string | null; status: string; leaver: boolean; attempts: number; lastError: Record<string, unknown> | null; pendingSince: Date | null; deliveredAt: Date | null; updatedAt: Date }>;
  deadLetters: Array<{ id: number; app: string; code: string; request: { method?: string; path?: string }; responseStatus: number | null; responseBody: string | null; message: string; attempts: number; at: Date; replayedAt: Date | null }>;
  slas: Array<{ id: number; changeId: number | null; requestedAt: Date; completedAt: Date | null; appsTotal: number; pendingApps: string[] }>;
  reviews: Array<{ id: string; kind: string; status: string; group: string | null; owner: string | null; reason: string | null; decidedBy: string | null; decidedAt: Date | null; createdAt: Date }>;
  exceptions: Array<{ id: string; kind: string; group: string; reason: string; owner: string; createdBy: string; createdAt: Date; expiresAt: Date | null; revokedAt: Date | null }>;
  tokens: Map<string, string>;
  truncated: boolean;
}

/** Everything recorded about one person, newest LIMIT_ROWS of each kind (read in one snapshot). */
export async function personRecords(pool: pg.Pool, id: string): Promise<PersonRecords> {
  return withSnapshot(pool, async (c) => {
    const L = LIMIT_ROWS;
    const user = (await c.query(
      `SELECT u.id, u.user_name, u.display_name, u.data->'name' AS name, u.employee_number, u.department, u.title, u.user_type, u.active,
              u.employment_status, u.source, u.updated_at, u.created_at, u.start_date, u.end_date, u.manager_id, ${PRIMARY_EMAIL} AS email,
              ls.status AS lifecycle_status, m.user_name AS manager_user_name
         FROM scim_user u LEFT JOIN lifecycle_state ls ON ls.user_id = u.id
         LEFT JOIN scim_user m ON m.id::text = u.manager_id
        WHERE u.id = $1`, [id])).rows[0];
    const groups = (await c.query(
      `SELECT g.display_name, gm.source, gm.cause, gm.created_at FROM group_member gm JOIN scim_group g ON g.id = gm.group_id
        WHERE gm.user_id = $1 ORDER BY g.display_name_key, gm.source`, [id])).rows;
    const changes = (await c.query(
      `SELECT cr.id, cr.operation, cr.changed, cr.before, cr.after, t.name AS token_name, cr.source, cr.request_id, cr.created_at
         FROM change_record cr LEFT JOIN api_token t ON t.id = cr.token_id
        WHERE cr.resource_type = 'User' AND cr.resource_id = $1 ORDER BY cr.id DESC LIMIT $2`, [id, L])).rows;
    const events = await listEvents(c, { userId: id, limit: L });
    const audit = (await c.query(
      `SELECT seq, kind, group_name, app, cause, details, chain_index IS NOT NULL AS sealed, occurred_at FROM audit_event
        WHERE user_id = $1 ORDER BY seq DESC LIMIT $2`, [id, L * 2])).rows;
    const accounts = (await c.query(
      `SELECT app, user_name, remote_id, status, leaver, attempts, last_error, pending_since, delivered_at, updated_at
         FROM app_account WHERE user_id = $1 ORDER BY app`, [id])).rows;
    const dead = await listDeadLetters(c, { user: id, limit: L });
    const slas = await leaverSlasOfUser(c, id, L);
    const reviewIds = [...new Set(audit.map((a) => a.cause?.reviewId).filter((x): x is string => typeof x === "string" && isUuid(x)))];
    const reviews = (await c.query(
      `SELECT id, kind, status, group_name, owner, reason, decided_by, decided_at, created_at FROM review
        WHERE user_id = $1 OR id = ANY($2::uuid[]) OR id IN (SELECT review_id FROM held_leaver WHERE user_id = $1)
        ORDER BY created_at DESC LIMIT $3`, [id, reviewIds, L])).rows;
    const exceptions = await listExceptions(c, { userId: id, limit: L });
    const tokenIds = [...new Set(audit.map((a) => a.cause?.tokenId).filter((x): x is string => typeof x === "string" && isUuid(x)))];
    const tokens = new Map<string, string>((await c.query(`SELECT id, name FROM api_token WHERE id = ANY($1::uuid[])`, [tokenIds])).rows.map((r) => [r.id, r.name]));
    return {
      user: user ? {
        ...toSummary(user), managerId: user.manager_id, managerUserName: user.manager_user_name, startDate: user.start_date, endDate: user.end_date, createdAt: user.created_at,
      } : null,
      groups: groups.map((g) => ({ group: g.display_name, source: g.source, cause: g.cause, since: g.created_at })),
      changes: changes.map((r) => ({ id: Number(r.id), operation: r.operation, changed: r.changed, before: r.before, after: r.after, tokenName: r.token_name, source: r.source, requestId: r.request_id, at: r.created_at })),
      events: events.map((r) => ({ id: r.id, kind: r.kind, details: r.details, changeId: r.changeId, cause: r.cause, held: r.held, at: r.createdAt })),
      audit: audit.map((r) => ({ seq: Number(r.seq), kind: r.kind, groupName: r.group_name, app: r.app, cause: r.cause ?? {}, details: r.details, sealed: r.sealed, at: r.occurred_at })),
      accounts: accounts.map((r) => ({ app: r.app, userName: r.user_name, remoteId: r.remote_id, status: r.status, leaver: r.leaver, attempts: r.attempts, lastError: r.last_error, pendingSince: r.pending_since, deliveredAt: r.delivered_at, updatedAt: r.updated_at })),
      deadLetters: dead.map((r) => ({ id: r.id, app: r.app, code: r.code, request: r.request ?? {}, responseStatus: r.responseStatus, responseBody: r.responseBody, message: r.message, attempts: r.attempts, at: r.createdAt, replayedAt: r.replayedAt })),
      slas: slas.map((r) => ({ id: r.id, changeId: r.changeId, requestedAt: r.requestedAt, completedAt: r.completedAt, appsTotal: r.appsTotal, pendingApps: r.pendingApps })),
      reviews: reviews.map((r) => ({ id: r.id, kind: r.kind, status: r.status, group: r.group_name, owner: r.owner, reason: r.reason, decidedBy: r.decided_by, decidedAt: r.decided_at, createdAt: r.created_at })),
      exceptions: exceptions.map((r) => ({ id: r.id, kind: r.kind, group: r.group, reason: r.reason, owner: r.owner, createdBy: r.createdBy, createdAt: r.createdAt, expiresAt: r.expiresAt, revokedAt: r.revokedAt })),
      tokens,
      truncated: [changes, events, dead, slas].some((x) => x.length === L) || audit.length === L * 2,
    };
  });
}
