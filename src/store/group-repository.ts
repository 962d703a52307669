// SQL for scim_group and group_member. Membership is changed by deltas (INSERT … ON CONFLICT DO
// NOTHING / DELETE … RETURNING), so adding one member to a 10,000-member group touches one row, and
// concurrent membership PATCHes on one group cannot lose each other's rows. display_name_key is the
// identifier key of docs/identifiers.md, computed in JavaScript (never SQL lower()).
import type pg from "pg";
import { isUuid } from "./user-repository.ts";
import { identifierKey } from "../domain/identifier.ts";
import type { GroupRow, MemberRef } from "./rows.ts";

type Q = Pick<pg.PoolClient, "query">;

// A group's version and lastModified: its row's, moved on by the membership bumps of its shards
// (group_version_shard, migration 20261213100000; touchGroups in lifecycle/membership-store.ts).
export const groupVersionSql = (g: string) =>
  `(${g}.version + coalesce((SELECT sum(s.bumps) FROM group_version_shard s WHERE s.group_id = ${g}.id), 0))::int`;
export const groupUpdatedAtSql = (g: string) =>
  `greatest(${g}.updated_at, (SELECT max(s.touched_at) FROM group_version_shard s WHERE s.group_id = ${g}.id))`;
/** The columns of a group row, read through alias `g` (its version and lastModified as above). */
export const GROUP_COLUMNS = `g.id, g.seq, g.display_name, g.display_name_key, g.external_id, g.data, g.managed,
  ${groupVersionSql("g")} AS version, g.created_at, ${groupUpdatedAtSql("g")} AS updated_at`;

export function rowToGroup(r: any): GroupRow {
  return {
    id: r.id, seq: Number(r.seq), displayName: r.display_name, displayNameKey: r.display_name_key, externalId: r.external_id,
    data: r.data, managed: r.managed, version: r.version, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export async function insertGroup(q: Q, g: { displayName: string; externalId: string | null; data: object; managed?: boolean }, now: Date): Promise<GroupRow> {
  const { rows } = await q.query(
    `INSERT INTO scim_group AS g (display_name, display_name_key, external_id, data, managed, created_at, updated_at)
     VALUES ($1, $6, $2, $3, $4, $5, $5) RETURNING ${GROUP_COLUMNS}`,
    [g.displayName, g.externalId, JSON.stringify(g.data), g.managed ?? false, now, identifierKey(g.displayName)]);
  return rowToGroup(rows[0]);
}

export async function updateGroup(q: Q, id: string, g: { displayName: string; externalId: string | null; data: object }, now: Date): Promise<GroupRow> {
  const { rows } = await q.query(
    `UPDATE scim_group g SET display_name=$2, display_name_key=$6, external_id=$3, data=$4, version=version+1, updated_at=$5
     WHERE id=$1 RETURNING ${GROUP_COLUMNS}`, [id, g.displayName, g.externalId, JSON.stringify(g.data), now, identifierKey(g.displayName)]);
  return rowToGroup(rows[0]);
}

/** Bumps version/lastModified after a membership-only change. */
export async function touchGroup(q: Q, id: string, now: Date): Promise<GroupRow> {
  const { rows } = await q.query(`UPDATE scim_group g SET version=version+1, updated_at=$2 WHERE id=$1 RETURNING ${GROUP_COLUMNS}`, [id, now]);
  return rowToGroup(rows[0]);
}

export async function findGroup(q: Q, id: string, opts: { lock?: boolean } = {}): Promise<GroupRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query(`SELECT ${GROUP_COLUMNS} FROM scim_group g WHERE id=$1${opts.lock ? " FOR UPDATE OF g" : ""}`, [id]);
  return rows[0] ? rowToGroup(rows[0]) : null;
}

export async function findGroupByName(q: Q, displayName: string): Promise<GroupRow | null> {
  const { rows } = await q.query(`SELECT ${GROUP_COLUMNS} FROM scim_group g WHERE display_name_key=$1`, [identifierKey(displayName)]);
  return rows[0] ? rowToGroup(rows[0]) : null;
}

export async function deleteGroup(q: Q, id: string): Promise<void> {
  await q.query(`DELETE FROM scim_group WHERE id=$1`, [id]);
}

/** Adds members with a source; returns the user ids actually added (not already members with that source). */
export async function addMembers(q: Q, groupId: string, userIds: string[], source = "manual", cause: object | null = null): Promise<string[]> {
  if (!userIds.length) return [];
  const { rows } = await q.query(
    `INSERT INTO group_member (group_id, user_id, source, cause) SELECT $1, u, $3, $4 FROM unnest($2::uuid[]) AS u
     ON CONFLICT DO NOTHING RETURNING user_id`, [groupId, userIds, source, cause ? JSON.stringify(cause) : null]);
  return rows.map((r) => r.user_id);
}

/** Removes members of one source; `userIds` undefined removes all of that source. Returns removed ids. */
export async function removeMembers(q: Q, groupId: string, userIds: string[] | undefined, source = "manual"): Promise<string[]> {
  if (userIds && !userIds.length) return [];
  const { rows } = userIds
    ? await q.query(`DELETE FROM group_member WHERE group_id=$1 AND source=$3 AND user_id = ANY($2::uuid[]) RETURNING user_id`, [groupId, userIds, source])
    : await q.query(`DELETE FROM group_member WHERE group_id=$1 AND source=$2 RETURNING user_id`, [groupId, source]);
  return rows.map((r) => r.user_id);
}

/** Full replace of one source's members as a delta: removes those not in `keep`; returns removed ids. */
export async function removeMembersExcept(q: Q, groupId: string, keep: string[], source = "manual"): Promise<string[]> {
  const { rows } = await q.query(
    `DELETE FROM group_member WHERE group_id=$1 AND source=$3 AND user_id <> ALL($2::uuid[]) RETURNING user_id`, [groupId, keep, source]);
  return rows.map((r) => r.user_id);
}

/** Distinct members of groups (any source), for the `members` attribute. */
export async function membersOfGroups(q: Q, groupIds: string[]): Promise<Map<string, MemberRef[]>> {
  const out = new Map<string, MemberRef[]>();
  if (!groupIds.length) return out;
  const { rows } = await q.query(
    `SELECT DISTINCT gm.group_id, u.id, u.user_name FROM group_member gm JOIN scim_user u ON u.id = gm.user_id
     WHERE gm.group_id = ANY($1::uuid[]) ORDER BY u.user_name`, [groupIds]);
  for (const g of groupIds) out.set(g, []);
  for (const r of rows) out.get(r.group_id)!.push({ value: r.id, display: r.user_name });
  return out;
}
