// SQL for app_token_cache: OAuth2 access tokens, sealed (token-vault.ts), shared by every broker process.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

/** The app's sealed token, unless it has expired. */
export async function cachedToken(q: Q, app: string): Promise<{ sealed: string; expiresAt: Date } | null> {
  const { rows } = await q.query(`SELECT sealed, expires_at FROM app_token_cache WHERE app = $1 AND expires_at > now()`, [app]);
  return rows[0] ? { sealed: rows[0].sealed, expiresAt: rows[0].expires_at } : null;
}

export async function saveToken(q: Q, app: string, sealed: string, expiresAt: Date): Promise<void> {
  await q.query(
    `INSERT INTO app_token_cache (app, sealed, expires_at, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (app) DO UPDATE SET sealed = $2, expires_at = $3, updated_at = now()`, [app, sealed, expiresAt]);
}
