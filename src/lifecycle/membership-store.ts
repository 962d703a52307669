// SQL the rules layer needs around group_member: a user's rows by group name (index on user_id), managed
// groups by name, and batched writes for policy applies. Single-user deltas go through group-repository's
// addMembers/removeMembers (one row each, INSERT … ON CONFLICT DO NOTHING / DELETE … RETURNING).
import type pg from "pg";
import type { CurrentMembership, MembershipCause, MembershipSource } from "../rules/diff.ts";
import { GROUP_SCHEMA } from "../scim/schemas.ts";
import { identifierKey } from "../domain/identifier.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface MemberRow extends CurrentMembership { groupId: string }

const toMember = (r: any): MemberRow => ({ group: r.display_name, groupId: r.group_id, source: r.source as MembershipSource, cause: r.cause as MembershipCause | null });

export async function membershipsOf(q: Q, userId: string): Promise<MemberRow[]> {
  const { rows } = await q.query(
    `SELECT gm.group_id, g.display_name, gm.source, gm.cause FROM group_member gm JOIN scim_group g ON g.id = gm.group_id
     WHERE gm.user_id = $1`, [userId]);
  return rows.map(toMember);
}

/** Rows of some users, optionally only in some groups. */
export async function membershipsOfUsers(q: Q, userIds: string[], groupIds?: string[]): Promise<Map<string, MemberRow[]>> {
  const out = new Map<string, MemberRow[]>();
  if (!userIds.length || groupIds?.length === 0) return out;
  const { rows } = await q.query(
    `SELECT gm.user_id, gm.group_id, g.display_name, gm.source, gm.cause FROM group_member gm JOIN scim_group g ON g.id = gm.group_id
     WHERE gm.user_id = ANY($1::uuid[])${groupIds ? " AND gm.group_id = ANY($2::uuid[])" : ""}`, groupIds ? [userIds, groupIds] : [userIds]);
  for (const r of rows) {
    const list = out.get(r.user_id) ?? [];
    list.push(toMember(r));
    out.set(r.user_id, list);
  }
  return out;
}

/** Ids of groups by exact displayName (policy names are unique case-insensitively, as display_name_key is). */
export async function groupIdsByName(q: Q, names: string[]): Promise<Map<string, string>> {
  if (!names.length) return new Map();
  const { rows } = await q.query(`SELECT id, display_name FROM scim_group WHERE display_name_key = ANY($1::text[])`, [names.map(identifierKey)]);
  const byKey = new Map(rows.map((r) => [identifierKey(String(r.display_name)), r.id as string]));
  return new Map(names.filter((n) => byKey.has(identifierKey(n))).map((n) => [n, byKey.get(identifierKey(n))!]));
}

/** A membership row to add (a created user's rule groups, lifecycle-batch.ts). */
export interface NewMemberRow { groupId: string; userId: string; source: string; cause: object | null }

/** Adds many users' rows in one statement (rows already present stay as they are). */
export async function addMemberRows(q: Q, rows: readonly NewMemberRow[]): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `INSERT INTO group_member (group_id, user_id, source, cause)
     SELECT r.group_id, r.user_id, r.source, r.cause::jsonb FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS r(group_id, user_id, source, cause)
     ON CONFLICT DO NOTHING`,
    [rows.map((r) => r.groupId), rows.map((r) => r.userId), rows.map((r) => r.source), rows.map((r) => (r.cause ? JSON.stringify(r.cause) : null))]);
}

/**
 * Makes every policy group exist as a managed SCIM group named exactly as in the policy. A group that HR or
 * an admin created earlier under the same name (any case) is adopted: marked managed and renamed to the
 * policy's spelling. Returns name → id, and the names that were created or adopted.
 */
export async function ensureManagedGroups(q: Q, names: string[], at: Date): Promise<{ ids: Map<string, string>; changed: string[] }> {
  if (!names.length) return { ids: new Map(), changed: [] };
  const { rows } = await q.query(
    `WITH wanted AS (SELECT n, k FROM unnest($1::text[], $4::text[]) AS w(n, k)),
     adopted AS (
       UPDATE scim_group g SET managed = true, display_name = w.n, version = g.version + 1, updated_at = $2,
              data = jsonb_set(g.data, '{displayName}', to_jsonb(w.n))
         FROM wanted w WHERE g.display_name_key = w.k AND (NOT g.managed OR g.display_name <> w.n)
       RETURNING g.id, g.display_name),
     created AS (
       INSERT INTO scim_group (display_name, display_name_key, data, managed, created_at, updated_at)
       SELECT w.n, w.k, jsonb_build_object('schemas', jsonb_build_array($3::text), 'displayName', w.n), true, $2, $2
         FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM scim_group g WHERE g.display_name_key = w.k)
       ON CONFLICT (display_name_key) DO NOTHING
       RETURNING id, display_name)
     SELECT id, display_name, true AS changed FROM adopted
     UNION ALL SELECT id, display_name, true FROM created
     UNION ALL SELECT g.id, g.display_name, false FROM scim_group g JOIN wanted w ON g.display_name_key = w.k
       WHERE g.managed AND g.display_name = w.n`,
    [names, at, GROUP_SCHEMA, names.map(identifierKey)]);
  const ids = new Map<string, string>();
  const changed: string[] = [];
  for (const r of rows) { ids.set(r.display_name, r.id); if (r.changed) changed.push(r.display_name); }
  return { ids, changed: [...new Set(changed)] };
}

/** Groups no longer in the policy stop being managed (their manual members stay; rule rows are removed by the converge). */
export async function unmanageGroupsExcept(q: Q, names: string[], at: Date): Promise<string[]> {
  const { rows } = await q.query(
    `UPDATE scim_group SET managed = false, version = version + 1, updated_at = $2
     WHERE managed AND NOT (display_name_key = ANY($1::text[])) RETURNING display_name`, [names.map(identifierKey), at]);
  return rows.map((r) => r.display_name as string);
}

export async function relabelMembers(q: Q, rows: Array<{ groupId: string; userId: string; source: string; cause: object }>): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `UPDATE group_member gm SET cause = r.cause::jsonb
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS r(group_id, user_id, source, cause)
      WHERE gm.group_id = r.group_id AND gm.user_id = r.user_id AND gm.source = r.source`,
    [rows.map((r) => r.groupId), rows.map((r) => r.userId), rows.map((r) => r.source), rows.map((r) => JSON.stringify(r.cause))]);
}

/**
 * Membership changes bump the group's version and lastModified (RFC 7644 §3.14: members are part of the
 * representation) — in the writing connection's shard row of the group (group_version_shard, migration
 * 20261213100000), not in the group's row: concurrent HR writes that change the members of the same broad
 * group (all-staff) then update different rows instead of queueing on one row lock until each commits.
 * Reads add the shards to the row (store/group-repository.ts groupVersionSql). One statement, rows taken in
 * group id order (two writers whose connections share a shard meet in the same order, never crosswise).
 */
export async function touchGroups(q: Q, groupIds: string[], at: Date): Promise<void> {
  if (!groupIds.length) return;
  const ids = [...new Set(groupIds)].sort();
  await q.query({ name: "group_version_bump", text:
    `INSERT INTO group_version_shard AS s (group_id, shard, bumps, touched_at)
     SELECT g.id, pg_backend_pid() % 64, 1, $2 FROM scim_group g WHERE g.id = ANY($1::uuid[]) ORDER BY g.id
     ON CONFLICT (group_id, shard) DO UPDATE SET bumps = s.bumps + 1, touched_at = greatest(s.touched_at, EXCLUDED.touched_at)`,
    values: [ids, at] });
}

/**
 * …and the users' (their read-only, derived `groups` attribute changed) when the change did not come with a
 * user write. Only the version (the ETag) moves: meta.lastModified stays the time of the user's own last
 * change, and leaving the indexed updated_at alone keeps this a HOT update — a policy apply touching 90,000
 * users costs a fraction of rewriting every index entry.
 */
export async function touchUsers(q: Q, userIds: string[], _at: Date): Promise<void> {
  if (!userIds.length) return;
  await q.query(`UPDATE scim_user SET version = version + 1 WHERE id = ANY($1::uuid[])`, [[...new Set(userIds)].sort()]);
}

/** Of these users, those holding a broker (rule or exception) row in the group: a manual change of theirs is not visible. */
export async function withBrokerRows(q: Q, groupId: string, userIds: string[]): Promise<Set<string>> {
  if (!userIds.length) return new Set();
  const { rows } = await q.query(
    `SELECT DISTINCT user_id FROM group_member WHERE group_id = $1 AND user_id = ANY($2::uuid[]) AND source <> 'manual'`, [groupId, userIds]);
  return new Set(rows.map((r) => r.user_id as string));
}
