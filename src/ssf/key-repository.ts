// ssf_key rows: the transmitter's signing keys (keys.ts). Plain objects out.
import type pg from "pg";

type Q = Pick<pg.PoolClient, "query">;

export interface KeyRow { kid: string; alg: string; publicJwk: Record<string, unknown>; privateSealed: string; createdAt: Date; retiredAt: Date | null }

const toRow = (r: any): KeyRow => ({ kid: r.kid, alg: r.alg, publicJwk: r.public_jwk, privateSealed: r.private_sealed, createdAt: r.created_at, retiredAt: r.retired_at });

/** Keys still published: the active one and those retired after `since`, newest first. */
export async function publishedKeys(q: Q, since: Date): Promise<KeyRow[]> {
  const { rows } = await q.query(`SELECT * FROM ssf_key WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid`, [since]);
  return rows.map(toRow);
}

export async function activeKey(q: Q): Promise<KeyRow | null> {
  const { rows } = await q.query(`SELECT * FROM ssf_key WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1`);
  return rows[0] ? toRow(rows[0]) : null;
}

export async function keyById(q: Q, kid: string): Promise<KeyRow | null> {
  const { rows } = await q.query(`SELECT * FROM ssf_key WHERE kid = $1`, [kid]);
  return rows[0] ? toRow(rows[0]) : null;
}

/** Serialises key creation between broker processes (first start, rotation) for the transaction. */
export async function lockKeys(q: Q): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('ssf_key'))`);
}

export async function insertKey(q: Q, k: Omit<KeyRow, "retiredAt">): Promise<void> {
  await q.query(`INSERT INTO ssf_key (kid, alg, public_jwk, private_sealed, created_at) VALUES ($1, $2, $3, $4, $5)`,
    [k.kid, k.alg, JSON.stringify(k.publicJwk), k.privateSealed, k.createdAt]);
}

export async function retireActive(q: Q, at: Date): Promise<void> {
  await q.query(`UPDATE ssf_key SET retired_at = $1 WHERE retired_at IS NULL`, [at]);
}
