// What the outbox (outbox.ts) reads inside the HR transaction: the user's identifiers, the HR change's
// changed attributes, the user's visible groups. Plain objects out.
import type pg from "pg";
import type { SubjectFacts } from "./set-builder.ts";
import { toStream, type StreamRow } from "./stream-repository.ts";
import { auditInsert, type AuditInput } from "../audit/audit-log.ts";
import { insertSetsSql, type NewSet } from "./set-repository.ts";
import { addPushesSql, readdSkipped } from "./push-jobs.ts";

type Q = Pick<pg.PoolClient, "query">;

export interface UserFacts extends SubjectFacts { active: boolean; department: string | null }

const USER_FACTS = `SELECT id, user_name, external_id, active, department,
            coalesce((SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(data->'emails') = 'array' THEN data->'emails' ELSE '[]' END) e
                       ORDER BY (e->>'primary')::text = 'true' DESC LIMIT 1), NULL) AS email
       FROM scim_user WHERE id = $1`;

const toFacts = (r: { id: string; user_name: unknown; email: string | null; external_id: string | null; active: boolean; department: string | null }): UserFacts => ({
  userId: r.id, email: r.email ?? (typeof r.user_name === "string" && r.user_name.includes("@") ? r.user_name : null),
  externalId: r.external_id, active: r.active, department: r.department,
});

export async function userFacts(q: Q, userId: string): Promise<UserFacts | null> {
  const { rows } = await q.query(USER_FACTS, [userId]);
  return rows[0] ? toFacts(rows[0]) : null;
}

export type LiveStream = StreamRow & { excluded: Set<string> };

/**
 * A user change's facts in ONE statement (a round trip inside the HR transaction costs every HR write):
 * the live streams (enabled or paused, with the subjects each removed — SSF §8.1.3), the user's
 * identifiers, and the attributes the HR change record touched. No live stream: no rows, nothing read.
 */
export async function changeFacts(q: Q, userId: string, changeId: number | null): Promise<{ streams: LiveStream[]; user: UserFacts | null; changed: string[] }> {
  // prepared (named): it runs in every HR transaction, so its plan is made once per connection
  const { rows } = await q.query({ name: "ssf_change_facts", text:
    `WITH u AS (${USER_FACTS})
     SELECT s.*, coalesce((SELECT array_agg(subject_key) FROM ssf_stream_subject x WHERE x.stream_id = s.id AND NOT x.included), '{}') AS excluded,
            u.id AS u_id, u.user_name AS u_user_name, u.external_id AS u_external_id, u.active AS u_active, u.department AS u_department, u.email AS u_email,
            (SELECT changed FROM change_record WHERE id = $2) AS c_changed
       FROM ssf_stream s LEFT JOIN u ON true
      WHERE s.status <> 'disabled' ORDER BY s.id`, values: [userId, changeId] });
  const first = rows[0];
  const user = first?.u_id ? toFacts({ id: first.u_id, user_name: first.u_user_name, email: first.u_email, external_id: first.u_external_id, active: first.u_active, department: first.u_department }) : null;
  return { streams: rows.map((r) => ({ ...toStream(r), excluded: new Set<string>(r.excluded) })), user, changed: first?.c_changed ?? [] };
}

/** The user's groups as apps and tokens see them (one name per group, whatever the membership's source). */
export async function groupsOf(q: Q, userId: string): Promise<string[]> {
  const { rows } = await q.query(
    `SELECT DISTINCT g.display_name AS name FROM group_member m JOIN scim_group g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY 1`, [userId]);
  return rows.map((r) => r.name);
}

/**
 * What a change issues, in ONE statement: its SETs, their audit rows, and the push streams' jobs
 * (graphile_worker.add_jobs) — data-modifying CTEs run once each whatever the outer query reads. Pushes
 * add_jobs skipped (a worker locked the pending job meanwhile) are added again (push-jobs.ts).
 */
export async function issue(q: Q, sets: readonly NewSet[], audit: readonly AuditInput[], pushes: ReadonlyMap<string, number>, at: Date): Promise<void> {
  if (!sets.length) return;
  const ins = insertSetsSql(sets, at, 1);
  const aud = audit.length ? auditInsert(audit, at, 1 + ins.params.length) : null;
  const jobs = pushes.size ? addPushesSql(pushes, 1 + ins.params.length + (aud?.params.length ?? 0)) : null;
  const { rows } = await q.query(
    `WITH issued AS (${ins.sql})${aud ? `, audited AS (${aud.sql})` : ""}
     ${jobs ? jobs.sql : "SELECT NULL::text AS key WHERE false"}`,
    [...ins.params, ...(aud?.params ?? []), ...(jobs?.params ?? [])]);
  if (pushes.size) await readdSkipped(q, pushes, rows.map((r) => r.key as string));
}
