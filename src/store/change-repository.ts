// change_record rows: written in the same transaction as the user/group change they describe, so a
// consumer (rules, fan-out, audit) never sees a change that was rolled back, nor misses one committed.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface ChangeInput {
  resourceType: "User" | "Group"; resourceId: string; operation: "create" | "update" | "delete";
  changed: string[]; before: unknown; after: unknown; tokenId: string | null; source: string | null; requestId: string | null;
  at: Date;
}

export async function insertChange(q: Q, c: ChangeInput): Promise<number> {
  const { rows } = await q.query(
    `INSERT INTO change_record (resource_type, resource_id, operation, changed, before, after, token_id, source, request_id, created_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id`,
    [c.resourceType, c.resourceId, c.operation, c.changed, c.before === null ? null : JSON.stringify(c.before),
      c.after === null ? null : JSON.stringify(c.after), c.tokenId, c.source, c.requestId, c.at]);
  return Number(rows[0].id);
}
