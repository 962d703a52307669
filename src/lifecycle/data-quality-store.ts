// SQL of the data-quality shield: its holds (data_quality_hold, one row per held user), and the facts the
// pure signals need from the rest of the store — when the user last left, other users of its source with
// its employeeNumber, and its manager. Each is an index probe, run only when the change needs it.
import type pg from "pg";
import type { UserResource } from "../scim/user-resource.ts";
import { isUuid } from "../store/user-repository.ts";
import { userStatus } from "../domain/classify.ts";
import type { HoldKind, IdentityFacts } from "./data-quality.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface HoldRow {
  userId: string; reviewId: string; holds: HoldKind[]; state: "held" | "kept";
  /** memberships hold: the user's resource as the rules last applied it */
  heldData: UserResource | null;
  heldAt: Date;
}

export const holdFromRow = (r: { user_id: string; review_id: string; holds: string[]; state: string; held_data: UserResource | null; held_at: Date }): HoldRow => ({
  userId: r.user_id, reviewId: r.review_id, holds: r.holds as HoldKind[], state: r.state as HoldRow["state"], heldData: r.held_data, heldAt: r.held_at,
});

const COLS = `user_id, review_id, holds, state, held_data, held_at`;

export async function holdOfReview(q: Q, reviewId: string): Promise<HoldRow | null> {
  const { rows } = await q.query(`SELECT ${COLS} FROM data_quality_hold WHERE review_id = $1 FOR UPDATE`, [reviewId]);
  return rows[0] ? holdFromRow(rows[0]) : null;
}

/** Holds of some users (a policy apply leaves memberships-held users as they are, and withholds grants). */
export async function holdsOfUsers(q: Q, userIds: string[]): Promise<Map<string, HoldKind[]>> {
  if (!userIds.length) return new Map();
  const { rows } = await q.query(`SELECT user_id, holds FROM data_quality_hold WHERE user_id = ANY($1::uuid[])`, [userIds]);
  return new Map(rows.map((r) => [r.user_id as string, r.holds as HoldKind[]]));
}

export async function putHold(q: Q, h: Omit<HoldRow, "heldAt">, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO data_quality_hold (user_id, review_id, holds, state, held_data, held_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT (user_id) DO UPDATE SET review_id = EXCLUDED.review_id, holds = EXCLUDED.holds, state = EXCLUDED.state,
       held_data = EXCLUDED.held_data, updated_at = EXCLUDED.updated_at`,
    [h.userId, h.reviewId, h.holds, h.state, h.heldData === null ? null : JSON.stringify(h.heldData), at]);
}

export async function setHoldState(q: Q, userId: string, state: HoldRow["state"], at: Date): Promise<void> {
  await q.query(`UPDATE data_quality_hold SET state = $2, updated_at = $3 WHERE user_id = $1`, [userId, state, at]);
}

export async function deleteHold(q: Q, userId: string): Promise<void> {
  await q.query(`DELETE FROM data_quality_hold WHERE user_id = $1`, [userId]);
}

/** When the user last actually left: its latest leaver applied (not held by the guard), or guard release. */
export async function lastLeftAt(q: Q, userId: string): Promise<Date | null> {
  const { rows } = await q.query(
    `SELECT created_at FROM lifecycle_event WHERE user_id = $1 AND kind IN ('leaver', 'guard-release') AND NOT held ORDER BY id DESC LIMIT 1`, [userId]);
  return rows[0]?.created_at ?? null;
}

/**
 * Other users of the same source with this employeeNumber (index (source, employee_number)), and whether the
 * manager reference names a user — by id or by externalId, as HR feeds reference people — who has not left.
 */
export async function identityFacts(
  q: Q, u: { id: string; source: string | null; employeeNumber: string | null; managerId: string | null }, at: Date,
  need: { employeeNumber: boolean; manager: boolean },
  /** users stored in the same statement after this one (a batch of creates): not there yet for this change */
  notYet: readonly string[] = [],
): Promise<IdentityFacts> {
  let sameEmployeeNumber: string[] = [];
  const hide = (n: number) => (notYet.length ? ` AND id <> ALL($${n}::uuid[])` : "");
  if (need.employeeNumber && u.employeeNumber) {
    const src = u.source === null ? "source IS NULL" : "source = $3";
    const params: unknown[] = u.source === null ? [u.employeeNumber, u.id] : [u.employeeNumber, u.id, u.source];
    if (notYet.length) params.push(notYet);
    const { rows } = await q.query(
      `SELECT user_name FROM scim_user WHERE ${src} AND employee_number = $1 AND id <> $2${hide(params.length)} ORDER BY user_name LIMIT 10`, params);
    sameEmployeeNumber = rows.map((r) => r.user_name as string);
  }
  let manager: IdentityFacts["manager"] = null;
  if (need.manager && u.managerId && u.managerId !== u.id) {
    const byId = isUuid(u.managerId);
    const params: unknown[] = byId ? [u.managerId, u.managerId] : [u.managerId];
    if (notYet.length) params.push(notYet);
    const { rows } = await q.query(
      `SELECT active, employment_status, start_date, end_date FROM scim_user
        WHERE (${byId ? "id = $2::uuid OR " : ""}external_id = $1)${hide(params.length)} LIMIT 1`, params);
    const m = rows[0];
    if (!m) manager = { value: u.managerId, problem: "unknown" };
    else if (userStatus({ active: m.active, employmentStatus: m.employment_status, startDate: m.start_date, endDate: m.end_date }, at) === "leaver")
      manager = { value: u.managerId, problem: "left" };
  }
  return { sameEmployeeNumber, manager };
}
