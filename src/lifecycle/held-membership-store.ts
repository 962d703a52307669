// SQL for held_membership: the broker memberships of a leaver that HR deleted (SCIM DELETE) while the
// mass-deprovision guard holds it. The user row goes as HR asked (RFC 7644 §3.6: later requests answer
// 404) and its group_member rows with it; their copies here keep the entitlement — the apps' group syncs
// count them as members (src/fanout/delivery/app-group-repository.ts memberSets) — until the review is approved.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

/** Copies the user's membership rows under the review that holds it (before the user row is deleted). */
export async function parkMemberships(q: Q, userId: string, reviewId: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO held_membership (group_id, user_id, source, cause, review_id, held_at)
     SELECT group_id, user_id, source, cause, $2, $3 FROM group_member WHERE user_id = $1
     ON CONFLICT (group_id, user_id, source) DO NOTHING`, [userId, reviewId, at]);
}

/** The review holding a user, newest first (a deleted leaver that was already parked, or kept by a denial). */
export async function holdingReview(q: Q, userId: string): Promise<string | null> {
  const { rows } = await q.query(`SELECT review_id FROM held_leaver WHERE user_id = $1 ORDER BY held_at DESC LIMIT 1`, [userId]);
  return rows[0]?.review_id ?? null;
}

/** Drops a released user's parked memberships; returns the groups (id and name) it leaves. */
export async function releaseMemberships(q: Q, userId: string): Promise<Array<{ groupId: string; groupName: string }>> {
  const { rows } = await q.query(
    `WITH d AS (DELETE FROM held_membership WHERE user_id = $1 RETURNING group_id)
     SELECT DISTINCT g.id, g.display_name FROM d JOIN scim_group g ON g.id = d.group_id ORDER BY g.display_name`, [userId]);
  return rows.map((r) => ({ groupId: r.id, groupName: r.display_name }));
}
