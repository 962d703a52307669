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
const insertSql = (withChange: boolean, skipTaken = false) => `WITH u AS (INSERT INTO scim_user (id, user_name, user_name_key, external_id, active, display_name, user_type, title, department,
       cost_center, division, organization, employee_number, manager_id, employment_status, start_date, end_date,
       location, sponsor_id, data, source, created_at, updated_at, email_keys)
     VALUES ($22,$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$21,$${withChange ? 30 : 23})
     ${skipTaken ? "ON CONFLICT DO NOTHING " : ""}RETURNING ${COLS})${withChange ? `, c AS (INSERT INTO change_record (resource_type, resource_id, operation, changed, before, after, token_id, source, request_id, created_at)
         SELECT $23, id, $24, $25, NULL, $26, $27, $28, $29, $21 FROM u RETURNING id)` : ""}
     SELECT u.*${withChange ? ", (SELECT id FROM c) AS change_id_" : ""} FROM u`;
const INSERT = { plain: insertSql(false), change: insertSql(true), changeUnlessTaken: insertSql(true, true) };

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

/**
 * insertUser with its change record, except that a taken userName (or any other unique key) inserts nothing
 * and answers null instead of failing: the caller's transaction goes on (a batch of creates, each its own 409).
 */
export async function insertUserUnlessTaken(q: Q, c: UserColumns, source: string | null, now: Date, id: string, change: ChangeInput): Promise<(UserRow & { changeId: number }) | null> {
  const { rows } = await q.query({
    name: "scim_user_insert_change_unless_taken", text: INSERT.changeUnlessTaken,
    values: [...values(c), source, now, id, ...changeValues(change), emailKeys(c)],
  });
  return rows[0] ? { ...rowToUser(rows[0]), changeId: Number(rows[0].change_id_) } : null;
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

