// SQL for the receiver side: received SETs (one row per issuer and jti: RFC 8417 §2.2 makes jti unique per
// issuer, so a replay finds its row) and the lookup of the user a SET's subject names.
import type pg from "pg";
import { identifierKey } from "../domain/identifier.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface ReceivedSetInput {
  iss: string; jti: string; eventType: string; subject: unknown; userId: string | null; action: string;
  claims: Record<string, unknown>; at: Date;
}

export async function wasReceived(q: Q, iss: string, jti: string): Promise<boolean> {
  const { rows } = await q.query(`SELECT 1 FROM ssf_received_set WHERE iss = $1 AND jti = $2`, [iss, jti]);
  return rows.length > 0;
}

/** Records a received SET; false when (iss, jti) was already there (a replay that raced this one). */
export async function insertReceived(q: Q, r: ReceivedSetInput): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO ssf_received_set (jti, iss, event_type, subject, user_id, action, claims, received_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8) ON CONFLICT (iss, jti) DO NOTHING`,
    [r.jti, r.iss, r.eventType, JSON.stringify(r.subject ?? null), r.userId, r.action, JSON.stringify(r.claims), r.at]);
  return rowCount === 1;
}

export interface KnownUser { id: string; userName: string; active: boolean; source: string | null }

/** Users whose email (or userName) has this key; at most two rows, enough to tell "one" from "ambiguous". */
export async function usersByEmail(q: Q, email: string): Promise<KnownUser[]> {
  const key = identifierKey(email);
  const { rows } = await q.query(
    `SELECT id, user_name, active, source FROM scim_user WHERE $1 = ANY(email_keys) OR user_name_key = $1 ORDER BY seq LIMIT 2`, [key]);
  return rows.map(toKnown);
}

/** Users whose userName or externalId is this identifier (RFC 9493 opaque id, iss_sub sub). */
export async function usersByIdentifier(q: Q, id: string): Promise<KnownUser[]> {
  const { rows } = await q.query(
    `SELECT id, user_name, active, source FROM scim_user WHERE user_name_key = $1 OR external_id = $2 ORDER BY seq LIMIT 2`, [identifierKey(id), id]);
  return rows.map(toKnown);
}

/** The change record a SET's deactivation wrote (the user service tags it with the request id). */
export async function changeIdOf(q: Q, userId: string, requestId: string): Promise<number | null> {
  const { rows } = await q.query(
    `SELECT id FROM change_record WHERE resource_type = 'User' AND resource_id = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`, [userId, requestId]);
  return rows[0] ? Number(rows[0].id) : null;
}

const toKnown = (r: any): KnownUser => ({ id: r.id, userName: r.user_name, active: r.active, source: r.source });
