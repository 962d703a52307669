// SQL for policy_version: every policy recorded by `config apply` (or at start), newest last. The latest row
// is the active policy in every broker process (policy-holder.ts); `converged_at` says the memberships were
// recomputed for it, so a crash between recording and converging is finished at the next start.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface PolicyVersionRow {
  id: number; version: string; yaml: string; file: string | null;
  appliedAt: Date; appliedBy: string | null; convergedAt: Date | null;
}

const COLS = `id, version, yaml, file, applied_at, applied_by, converged_at`;
const toRow = (r: any): PolicyVersionRow => ({
  id: Number(r.id), version: r.version, yaml: r.yaml, file: r.file, appliedAt: r.applied_at, appliedBy: r.applied_by, convergedAt: r.converged_at,
});

export async function latestPolicyId(q: Q): Promise<number | null> {
  const { rows } = await q.query(`SELECT max(id) AS id FROM policy_version`);
  return rows[0].id === null ? null : Number(rows[0].id);
}

export async function policyVersionById(q: Q, id: number): Promise<PolicyVersionRow | null> {
  const { rows } = await q.query(`SELECT ${COLS} FROM policy_version WHERE id = $1`, [id]);
  return rows[0] ? toRow(rows[0]) : null;
}

export async function latestPolicyVersion(q: Q, opts: { converged?: boolean } = {}): Promise<PolicyVersionRow | null> {
  const { rows } = await q.query(
    `SELECT ${COLS} FROM policy_version ${opts.converged ? "WHERE converged_at IS NOT NULL" : ""} ORDER BY id DESC LIMIT 1`);
  return rows[0] ? toRow(rows[0]) : null;
}

export async function insertPolicyVersion(q: Q, v: { version: string; yaml: string; file: string | null; appliedBy: string; at: Date }): Promise<PolicyVersionRow> {
  const { rows } = await q.query(
    `INSERT INTO policy_version (version, yaml, file, applied_at, applied_by) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLS}`,
    [v.version, v.yaml, v.file, v.at, v.appliedBy]);
  return toRow(rows[0]);
}

/** Marks every version up to `id` converged (an older unconverged one is superseded by the newer). */
export async function markConverged(q: Q, id: number, at: Date): Promise<void> {
  await q.query(`UPDATE policy_version SET converged_at = $2 WHERE id <= $1 AND converged_at IS NULL`, [id, at]);
}
