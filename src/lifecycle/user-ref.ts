// Admins name users by id or by userName (CLI, admin API); both resolve to the id here.
import type pg from "pg";
import { isUuid } from "../store/user-repository.ts";
import { notFound } from "../shared/errors.ts";
import { identifierKey } from "../domain/identifier.ts";

type Q = Pick<pg.PoolClient, "query">;

export async function resolveUserId(q: Q, ref: string): Promise<string> {
  const { rows } = isUuid(ref)
    ? await q.query(`SELECT id FROM scim_user WHERE id = $1`, [ref])
    : await q.query(`SELECT id FROM scim_user WHERE user_name_key = $1`, [identifierKey(ref)]);
  if (!rows[0]) throw notFound(`User ${ref}`);
  return rows[0].id;
}
