// What the outbox (outbox.ts) reads inside the HR transaction: the user's identifiers, the HR change's
// changed attributes, the user's visible groups. Plain objects out.
import type pg from "pg";
import type { SubjectFacts } from "./set-builder.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface UserFacts extends SubjectFacts { active: boolean; department: string | null }

export async function userFacts(q: Q, userId: string): Promise<UserFacts | null> {
  const { rows } = await q.query(
    `SELECT id, user_name, external_id, active, department,
            coalesce((SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(data->'emails') = 'array' THEN data->'emails' ELSE '[]' END) e
                       ORDER BY (e->>'primary')::text = 'true' DESC LIMIT 1), NULL) AS email
       FROM scim_user WHERE id = $1`, [userId]);
  const r = rows[0];
  if (!r) return null;
  const email = r.email ?? (typeof r.user_name === "string" && r.user_name.includes("@") ? r.user_name : null);
  return { userId: r.id, email, externalId: r.external_id, active: r.active, department: r.department };
}

export async function changedAttributes(q: Q, changeId: number | null): Promise<string[]> {
  if (changeId === null) return [];
  const { rows } = await q.query(`SELECT changed FROM change_record WHERE id = $1`, [changeId]);
  return rows[0]?.changed ?? [];
}

/** The user's groups as apps and tokens see them (one name per group, whatever the membership's source). */
export async function groupsOf(q: Q, userId: string): Promise<string[]> {
  const { rows } = await q.query(
    `SELECT DISTINCT g.display_name AS name FROM group_member m JOIN scim_group g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY 1`, [userId]);
  return rows.map((r) => r.name);
}
