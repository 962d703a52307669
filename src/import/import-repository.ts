// Read-only SQL of the CSV import: a batch of rows costs one statement per look-up, whatever its size
// (index scim_user_source_employee_number_idx, migration 20261204130000_import_lookup).
import type pg from "pg";
import { USER_COLUMNS, rowToUser } from "../store/user-repository.ts";
import { mapDbError } from "../store/database.ts";
import { identifierKey } from "../domain/identifier.ts";
import type { UserRow } from "../store/rows.ts";

type Q = Pick<pg.PoolClient, "query">;

/** Users of the source with these employee numbers (a number held by two users is the caller's error). */
export async function usersByEmployeeNumber(q: Q, source: string, numbers: string[]): Promise<Map<string, UserRow[]>> {
  const out = new Map<string, UserRow[]>();
  if (!numbers.length) return out;
  try {
    const { rows } = await q.query(`SELECT ${USER_COLUMNS} FROM scim_user WHERE source = $1 AND employee_number = ANY($2::text[])`, [source, numbers]);
    for (const r of rows.map(rowToUser)) out.set(r.employeeNumber!, [...(out.get(r.employeeNumber!) ?? []), r]);
    return out;
  } catch (e) { mapDbError(e); }
}

export interface PersonRef { id: string; employeeNumber: string | null; userNameKey: string }

/** Users of the source a manager cell can name: by employeeNumber or by userName (its identifier key, docs/identifiers.md). */
export async function managerCandidates(q: Q, source: string, refs: string[]): Promise<PersonRef[]> {
  if (!refs.length) return [];
  try {
    const { rows } = await q.query(
      `SELECT id, employee_number, user_name_key FROM scim_user
        WHERE source = $1 AND (employee_number = ANY($2::text[]) OR user_name_key = ANY($3::text[]))`,
      [source, refs, refs.map(identifierKey)]);
    return rows.map((r) => ({ id: r.id, employeeNumber: r.employee_number, userNameKey: r.user_name_key }));
  } catch (e) { mapDbError(e); }
}

/** Owners of these userNames (any source): a dry run reports what the write would refuse with 409. */
export async function userNameOwners(q: Q, userNames: string[]): Promise<Map<string, string>> {
  if (!userNames.length) return new Map();
  try {
    const { rows } = await q.query(`SELECT id, user_name_key FROM scim_user WHERE user_name_key = ANY($1::text[])`, [userNames.map(identifierKey)]);
    return new Map(rows.map((r) => [r.user_name_key as string, r.id as string]));
  } catch (e) { mapDbError(e); }
}
