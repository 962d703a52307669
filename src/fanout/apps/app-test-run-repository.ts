// SQL for app_test_run: a connection test the CLI asked for, run by a server worker (fanout-service.ts).
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export async function insertTestRun(q: Q, app: string): Promise<number> {
  const { rows } = await q.query(`INSERT INTO app_test_run (app) VALUES ($1) RETURNING id`, [app]);
  return Number(rows[0].id);
}

export async function finishTestRun(q: Q, id: number, result: object): Promise<void> {
  await q.query(`UPDATE app_test_run SET finished_at = now(), result = $2 WHERE id = $1`, [id, JSON.stringify(result)]);
}

export async function testRun(q: Q, id: number): Promise<{ id: number; app: string; finishedAt: Date | null; result: any } | null> {
  const { rows } = await q.query(`SELECT id, app, finished_at, result FROM app_test_run WHERE id = $1`, [id]);
  return rows[0] ? { id: Number(rows[0].id), app: rows[0].app, finishedAt: rows[0].finished_at, result: rows[0].result } : null;
}
