// ssf_stream and ssf_stream_subject rows (SSF 1.0 §8.1). Plain objects out; ownership is part of every
// receiver-facing query (owner = the token that created the stream), so another receiver's stream is
// simply "not found".
import type pg from "pg";
import { isUuid } from "../store/user-repository.ts";

type Q = Pick<pg.PoolClient, "query">;

export type StreamStatus = "enabled" | "paused" | "disabled";

export interface StreamRow {
  id: string; ownerTokenId: string | null; name: string | null; iss: string; audience: string[];
  method: string; endpointUrl: string | null; authSealed: string | null; eventsRequested: string[];
  description: string | null; status: StreamStatus; statusReason: string | null;
  failures: number; retryAt: Date | null; quarantinedAt: Date | null; lastError: string | null;
  createdAt: Date; updatedAt: Date;
}

export const toStream = (r: any): StreamRow => ({
  id: r.id, ownerTokenId: r.owner_token_id, name: r.name, iss: r.iss, audience: r.audience ?? [], method: r.method,
  endpointUrl: r.endpoint_url, authSealed: r.auth_sealed, eventsRequested: r.events_requested ?? [], description: r.description,
  status: r.status, statusReason: r.status_reason, failures: r.failures, retryAt: r.retry_at, quarantinedAt: r.quarantined_at,
  lastError: r.last_error, createdAt: r.created_at, updatedAt: r.updated_at,
});

/** Who asks: a receiver's token sees its own streams; an admin token also sees the streams of broker.yaml. */
export interface Viewer { tokenId: string; admin: boolean }

const visible = (n: number) => `(owner_token_id = $${n}::uuid OR ($${n + 1}::boolean AND owner_token_id IS NULL))`;

export async function streamsOf(q: Q, v: Viewer): Promise<StreamRow[]> {
  const { rows } = await q.query(`SELECT * FROM ssf_stream WHERE ${visible(1)} ORDER BY created_at, id`, [v.tokenId, v.admin]);
  return rows.map(toStream);
}

export async function streamOf(q: Q, v: Viewer, id: string): Promise<StreamRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query(`SELECT * FROM ssf_stream WHERE id = $3 AND ${visible(1)}`, [v.tokenId, v.admin, id]);
  return rows[0] ? toStream(rows[0]) : null;
}

export interface StreamInput {
  ownerTokenId: string | null; name?: string | null; iss: string; audience: string[]; method: string; endpointUrl: string | null;
  authSealed: string | null; eventsRequested: string[]; description: string | null;
}

export async function insertStream(q: Q, s: StreamInput, at: Date): Promise<StreamRow> {
  const { rows } = await q.query(
    `INSERT INTO ssf_stream (owner_token_id, name, iss, audience, method, endpoint_url, auth_sealed, events_requested, description, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *`,
    [s.ownerTokenId, s.name ?? null, s.iss, s.audience, s.method, s.endpointUrl, s.authSealed, s.eventsRequested, s.description, at]);
  return toStream(rows[0]);
}

/** Replaces the receiver-supplied properties (delivery, events_requested, description). */
export async function updateStream(q: Q, id: string, s: Pick<StreamInput, "method" | "endpointUrl" | "authSealed" | "eventsRequested" | "description">, at: Date): Promise<StreamRow> {
  const { rows } = await q.query(
    `UPDATE ssf_stream SET method = $2, endpoint_url = $3, auth_sealed = $4, events_requested = $5, description = $6, updated_at = $7,
       failures = 0, retry_at = NULL, quarantined_at = NULL WHERE id = $1 RETURNING *`,
    [id, s.method, s.endpointUrl, s.authSealed, s.eventsRequested, s.description, at]);
  return toStream(rows[0]);
}

export async function deleteStream(q: Q, id: string): Promise<void> {
  await q.query(`DELETE FROM ssf_stream WHERE id = $1`, [id]);
}

export async function setStatus(q: Q, id: string, status: StreamStatus, reason: string | null, at: Date): Promise<StreamRow> {
  const { rows } = await q.query(`UPDATE ssf_stream SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1 RETURNING *`, [id, status, reason, at]);
  return toStream(rows[0]);
}

/** SSF §8.1.2 "disabled": the transmitter holds nothing for later — a disabled stream's pending SETs go. */
export async function dropPending(q: Q, id: string): Promise<void> {
  await q.query(`DELETE FROM ssf_set WHERE stream_id = $1 AND state = 'pending'`, [id]);
}

export async function putSubject(q: Q, streamId: string, key: string, subject: unknown, included: boolean, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO ssf_stream_subject (stream_id, subject_key, subject, included, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (stream_id, subject_key) DO UPDATE SET subject = excluded.subject, included = excluded.included, created_at = excluded.created_at`,
    [streamId, key, JSON.stringify(subject), included, at]);
}

/** Streams that take events now (enabled or paused — a paused stream keeps them), with their removed subjects. */
export async function liveStreams(q: Q): Promise<Array<StreamRow & { excluded: Set<string> }>> {
  const { rows } = await q.query(
    `SELECT s.*, coalesce((SELECT array_agg(subject_key) FROM ssf_stream_subject x WHERE x.stream_id = s.id AND NOT x.included), '{}') AS excluded
       FROM ssf_stream s WHERE s.status <> 'disabled' ORDER BY s.id`);
  return rows.map((r) => ({ ...toStream(r), excluded: new Set<string>(r.excluded) }));
}

/** Declared streams (broker.yaml) by name. */
export async function declaredStreams(q: Q): Promise<StreamRow[]> {
  const { rows } = await q.query(`SELECT * FROM ssf_stream WHERE name IS NOT NULL`);
  return rows.map(toStream);
}

// ---- delivery state (push-task.ts) ----

export async function noteFailure(q: Q, id: string, error: string, retryAt: Date, quarantine: boolean, at: Date): Promise<number> {
  const { rows } = await q.query(
    `UPDATE ssf_stream SET failures = failures + 1, last_error = $2, retry_at = $3,
       quarantined_at = CASE WHEN $4::boolean THEN coalesce(quarantined_at, $5) ELSE quarantined_at END WHERE id = $1 RETURNING failures`,
    [id, error.slice(0, 500), retryAt, quarantine, at]);
  return rows[0]?.failures ?? 0;
}

export async function noteSuccess(q: Q, id: string): Promise<void> {
  await q.query(`UPDATE ssf_stream SET failures = 0, retry_at = NULL, quarantined_at = NULL, last_error = NULL WHERE id = $1 AND (failures > 0 OR retry_at IS NOT NULL)`, [id]);
}

export async function clearRetry(q: Q, id: string): Promise<void> {
  await q.query(`UPDATE ssf_stream SET retry_at = NULL WHERE id = $1`, [id]);
}
