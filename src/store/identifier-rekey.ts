// Data step of migration 20261204100000_identifier_keys: recomputes user_name_key and display_name_key
// with identifierKey (docs/identifiers.md), which SQL cannot compute (PostgreSQL's lower() differs from the
// key on `İ`, `ß`, final sigma, NFKC). Runs in the migration's transaction (src/store/migrate.ts).
//
// Rows that were distinct before and share a key now (`ann` and `ａｎｎ`) cannot both have it: the row whose
// key does not change keeps it (else the oldest, by seq); the others keep their old key — which is not a key
// of the new function, so it collides with nothing — and are returned for the operator to resolve
// (docs/identifiers.md, "Existing data").
import type pg from "pg";
import { emailKeysOf, identifierKey } from "../domain/identifier.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface RekeyResult { table: string; rekeyed: number; unresolved: Array<{ id: string; name: string; key: string }> }

async function rekey(q: Q, table: "scim_user" | "scim_group", nameColumn: string, keyColumn: string, uniqueIndex: string): Promise<RekeyResult> {
  const { rows } = await q.query(`SELECT id, ${nameColumn} AS name, ${keyColumn} AS key FROM ${table} ORDER BY seq`);
  const byKey = new Map<string, Array<{ id: string; name: string; key: string }>>();
  for (const r of rows) {
    const k = identifierKey(r.name);
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const ids: string[] = [], keys: string[] = [];
  const unresolved: RekeyResult["unresolved"] = [];
  for (const [k, group] of byKey) {
    const keeper = group.find((r) => r.key === k) ?? group[0]!;
    if (keeper.key !== k) { ids.push(keeper.id); keys.push(k); }
    for (const r of group) if (r !== keeper) unresolved.push({ id: r.id, name: r.name, key: k });
  }
  if (ids.length) {
    // Unique checks are per row, so keys that move between rows would collide mid-statement.
    await q.query(`DROP INDEX IF EXISTS "${uniqueIndex}"`);
    await q.query(`UPDATE ${table} t SET ${keyColumn} = v.k FROM unnest($1::uuid[], $2::text[]) AS v(id, k) WHERE t.id = v.id`, [ids, keys]);
    await q.query(`CREATE UNIQUE INDEX "${uniqueIndex}" ON ${table} (${keyColumn})`);
  }
  return { table, rekeyed: ids.length, unresolved };
}

/** email_keys of every user from its data (no uniqueness involved). */
async function keyEmails(q: Q): Promise<number> {
  const { rows } = await q.query(`SELECT id, data -> 'emails' AS emails FROM scim_user`);
  const ids: string[] = [], keys: string[] = [];
  for (const r of rows) { ids.push(r.id); keys.push(JSON.stringify(emailKeysOf(r.emails))); }
  if (ids.length) {
    await q.query(`UPDATE scim_user u SET email_keys = ARRAY(SELECT jsonb_array_elements_text(v.k::jsonb))
      FROM unnest($1::uuid[], $2::text[]) AS v(id, k) WHERE u.id = v.id`, [ids, keys]);
  }
  return ids.length;
}

export async function rekeyIdentifiers(q: Q): Promise<RekeyResult[]> {
  await keyEmails(q);
  return [
    await rekey(q, "scim_user", "user_name", "user_name_key", "scim_user_user_name_key_key"),
    await rekey(q, "scim_group", "display_name", "display_name_key", "scim_group_display_name_key_key"),
  ];
}
