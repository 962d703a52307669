// SQL for scim_user. Raw SQL through the shared pg pool rather than Prisma's query API: this is the SCIM
// hot path (≥ 1,000 creates/s target), filters compile to SQL fragments Prisma cannot express (jsonb
// value paths, case-insensitive LIKE on expressions), and writes must join the caller's transaction.
import type pg from "pg";
import type { ChangeInput } from "./change-repository.ts";
import type { UserColumns, UserRow } from "./rows.ts";

type Q = Pick<pg.PoolClient, "query">;

const COLS = `id, seq, user_name, user_name_key, external_id, active, display_name, user_type, title, department,
  cost_center, division, organization, employee_number, manager_id, employment_status, start_date, end_date,
  location, sponsor_id, source, data, version, created_at, updated_at`;

export const USER_COLUMNS = COLS;

export function rowToUser(r: any): UserRow {
  return {
    id: r.id, seq: Number(r.seq), userName: r.user_name, userNameKey: r.user_name_key, externalId: r.external_id,
    active: r.active, displayName: r.display_name, userType: r.user_type, title: r.title, department: r.department,
    costCenter: r.cost_center, division: r.division, organization: r.organization, employeeNumber: r.employee_number,
    managerId: r.manager_id, employmentStatus: r.employment_status, startDate: r.start_date, endDate: r.end_date,
    location: r.location, sponsorId: r.sponsor_id, source: r.source, data: r.data, version: r.version,
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

const values = (c: UserColumns) => [
  c.userName, c.userNameKey, c.externalId, c.active, c.displayName, c.userType, c.title, c.department, c.costCenter,
  c.division, c.organization, c.employeeNumber, c.managerId, c.employmentStatus, c.startDate, c.endDate, c.location,
  c.sponsorId, JSON.stringify(c.data),
];
// email_keys (identifier keys of emails[].value, docs/identifiers.md) travels as the last parameter.
const emailKeys = (c: UserColumns) => c.emailKeys ?? [];

/**
 * Inserts a user; with `change`, its change record too, in the same statement (a data-modifying CTE is
 * atomic on its own: one round trip instead of BEGIN/INSERT/INSERT/COMMIT on the hottest write path).
 */
// The statements of the write path are named (prepared once per connection, PostgreSQL then binds and runs
// them without parsing and planning the data-modifying CTE again: PostgreSQL shares the 2 cores with Node).
const insertSql = (withChange: boolean) => `WITH u AS (INSERT INTO scim_user (id, user_name, user_name_key, external_id, active, display_name, user_type, title, department,
       cost_center, division, organization, employee_number, manager_id, employment_status, start_date, end_date,
       location, sponsor_id, data, source, created_at, updated_at, email_keys)
     VALUES ($22,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$21,$${withChange ? 30 : 23})
     RETURNING ${COLS})${withChange ? `, c AS (INSERT INTO change_record (resource_type, resource_id, operation, changed, before, after, token_id, source, request_id, created_at)
         SELECT $23, id, $24, $25, NULL, $26, $27, $28, $29, $21 FROM u RETURNING id)` : ""}
     SELECT u.*${withChange ? ", (SELECT id FROM c) AS change_id_" : ""} FROM u`;
const INSERT = { plain: insertSql(false), change: insertSql(true) };

/**
 * Inserts a user; with `change`, its change record too, in the same statement (a data-modifying CTE is
 * atomic on its own: one round trip instead of BEGIN/INSERT/INSERT/COMMIT on the hottest write path).
 */
export async function insertUser(q: Q, c: UserColumns, source: string | null, now: Date, id: string, change?: ChangeInput): Promise<UserRow & { changeId?: number }> {
  const { rows } = await q.query({
    name: change ? "scim_user_insert_change" : "scim_user_insert", text: change ? INSERT.change : INSERT.plain,
    values: [...values(c), source, now, id, ...(change ? changeValues(change) : []), emailKeys(c)],
  });
  return { ...rowToUser(rows[0]), ...(change ? { changeId: Number(rows[0].change_id_) } : {}) };
}

/** One user of insertUsersUnlessTaken: its columns, its id, and its change record's `changed` and `after`. */
export interface NewUser { id: string; cols: UserColumns; changed: string[]; after: unknown }

// The rows travel as one JSON document (jsonb_to_recordset): a batch of users is one parameter, whatever
// its size, and each user's arrays (email keys, changed attributes) keep their own length — unnest over
// per-column arrays would need rectangular arrays for those. `ord` keeps the batch's order: the first of two
// users with the same userName is the one stored, and seq and change ids follow the operations.
const INSERT_MANY = `WITH r AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid, user_name text, user_name_key text, external_id text,
         active boolean, display_name text, user_type text, title text, department text, cost_center text, division text,
         organization text, employee_number text, manager_id text, employment_status text, start_date timestamptz,
         end_date timestamptz, location text, sponsor_id text, data jsonb, email_keys jsonb, changed jsonb, after jsonb)),
     u AS (
       INSERT INTO scim_user (id, user_name, user_name_key, external_id, active, display_name, user_type, title, department,
         cost_center, division, organization, employee_number, manager_id, employment_status, start_date, end_date,
         location, sponsor_id, data, source, created_at, updated_at, email_keys)
       SELECT r.id, r.user_name, r.user_name_key, r.external_id, r.active, r.display_name, r.user_type, r.title, r.department,
         r.cost_center, r.division, r.organization, r.employee_number, r.manager_id, r.employment_status, r.start_date, r.end_date,
         r.location, r.sponsor_id, r.data, $2, $3, $3,
         ARRAY(SELECT k FROM jsonb_array_elements_text(r.email_keys) WITH ORDINALITY AS e(k, n) ORDER BY n)
         FROM r ORDER BY r.ord
       ON CONFLICT DO NOTHING
       RETURNING ${COLS}),
     c AS (
       INSERT INTO change_record (resource_type, resource_id, operation, changed, before, after, token_id, source, request_id, created_at)
       SELECT 'User', u.id, 'create', ARRAY(SELECT x FROM jsonb_array_elements_text(r.changed) WITH ORDINALITY AS e(x, n) ORDER BY n),
              NULL, r.after, $4, $2, $5, $3
         FROM u JOIN r ON r.id = u.id ORDER BY r.ord
       RETURNING id, resource_id)
     SELECT u.*, c.id AS change_id_ FROM u JOIN c ON c.resource_id = u.id`;

/**
 * Inserts a batch of users in one statement (a /Bulk of creates): each user with its change
 * record, in the batch's order; a user whose userName (or another unique key) is taken — by a stored user or
 * by one earlier in the batch — is not stored and is absent from the answer (the caller's 409).
 */
export async function insertUsersUnlessTaken(
  q: Q, items: readonly NewUser[], ctx: { source: string | null; tokenId: string | null; requestId: string | null }, now: Date,
): Promise<Map<string, UserRow & { changeId: number }>> {
  const out = new Map<string, UserRow & { changeId: number }>();
  if (!items.length) return out;
  const doc = items.map(({ id, cols: c, changed, after }, ord) => ({
    ord, id, user_name: c.userName, user_name_key: c.userNameKey, external_id: c.externalId, active: c.active,
    display_name: c.displayName, user_type: c.userType, title: c.title, department: c.department, cost_center: c.costCenter,
    division: c.division, organization: c.organization, employee_number: c.employeeNumber, manager_id: c.managerId,
    employment_status: c.employmentStatus, start_date: c.startDate, end_date: c.endDate, location: c.location,
    sponsor_id: c.sponsorId, data: c.data, email_keys: emailKeys(c), changed, after,
  }));
  const { rows } = await q.query({ name: "scim_user_insert_many", text: INSERT_MANY, values: [JSON.stringify(doc), ctx.source, now, ctx.tokenId, ctx.requestId] });
  for (const r of rows) out.set(r.id, { ...rowToUser(r), changeId: Number(r.change_id_) });
  return out;
}

const changeValues = (change: ChangeInput) =>
  [change.resourceType, change.operation, change.changed, JSON.stringify(change.after), change.tokenId, change.source, change.requestId];

const UPDATE = `UPDATE scim_user SET user_name=$2, user_name_key=$3, external_id=$4, active=$5, display_name=$6, user_type=$7,
       title=$8, department=$9, cost_center=$10, division=$11, organization=$12, employee_number=$13, manager_id=$14,
       employment_status=$15, start_date=$16, end_date=$17, location=$18, sponsor_id=$19, data=$20,
       version=version+1, updated_at=$21, email_keys=$22
     WHERE id=$1 RETURNING ${COLS}`;

export async function updateUser(q: Q, id: string, c: UserColumns, now: Date): Promise<UserRow> {
  const { rows } = await q.query({ name: "scim_user_update", text: UPDATE, values: [id, ...values(c), now, emailKeys(c)] });
  return rowToUser(rows[0]);
}

/** Sets only `active` (used by lifecycle actions: leaver disable, leave suspension). */
export async function setUserActive(q: Q, id: string, active: boolean, now: Date): Promise<UserRow | null> {
  const { rows } = await q.query(
    `UPDATE scim_user SET active=$2, data = jsonb_set(data, '{active}', to_jsonb($2::boolean)), version=version+1, updated_at=$3
     WHERE id=$1 RETURNING ${COLS}`, [id, active, now]);
  return rows[0] ? rowToUser(rows[0]) : null;
}

export async function deleteUser(q: Q, id: string): Promise<void> {
  await q.query(`DELETE FROM scim_user WHERE id=$1`, [id]);
}

const FIND = `SELECT ${COLS} FROM scim_user WHERE id=$1`;

export async function findUser(q: Q, id: string, opts: { lock?: boolean } = {}): Promise<UserRow | null> {
  if (!isUuid(id)) return null;
  // The row lock is most often a write transaction's first statement: as plain text without parameters,
  // BEGIN travels with it in one message (store/database.ts) — one round trip less for every PATCH, PUT and
  // DELETE. Inlining the id is safe: it is a UUID (UUID_RE, hex digits and hyphens only).
  const { rows } = opts.lock
    ? await q.query(`${FIND.replace("$1", `'${id}'`)} FOR UPDATE`)
    : await q.query({ name: "scim_user_find", text: FIND, values: [id] });
  return rows[0] ? rowToUser(rows[0]) : null;
}

/** Group references of the given users, for the read-only `groups` attribute (distinct over sources). */
export async function groupsOfUsers(q: Q, userIds: string[]): Promise<Map<string, Array<{ value: string; display: string }>>> {
  const out = new Map<string, Array<{ value: string; display: string }>>();
  if (!userIds.length) return out;
  const { rows } = await q.query(
    `SELECT DISTINCT gm.user_id, g.id, g.display_name FROM group_member gm JOIN scim_group g ON g.id = gm.group_id
     WHERE gm.user_id = ANY($1::uuid[]) ORDER BY g.display_name`, [userIds]);
  for (const r of rows) {
    const list = out.get(r.user_id) ?? [];
    list.push({ value: r.id, display: r.display_name });
    out.set(r.user_id, list);
  }
  return out;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

