// Policy replay's I/O around the pure engine (replay-engine.ts): read, in one read-only snapshot, the policy
// versions and exceptions that could matter, then stream the window's User change records in (created_at, id)
// order — keyset batches on the (created_at, id) index, the next batch requested before the current one is
// evaluated, so the database and the engine work at the same time — and hand each to the engine. Nothing is
// written; memory is the engine's per-user state, not the records.
import { withSnapshot } from "../store/database.ts";
import type pg from "pg";
import { badRequest } from "../shared/errors.ts";
import { PolicyReplay, type ReplayDifference, type ReplayException, type ReplayRecord, type ReplaySummary } from "./replay-engine.ts";
import { PolicyError, type Policy } from "../rules/policy-loader.ts";
import { PolicyHolder } from "./policy-holder.ts";

export interface ReplayWindow {
  from: Date; to: Date; limit?: number;
  /** called after each batch of HR changes replayed: how many so far, of how many in the window */
  onProgress?: (done: number, total: number) => void;
}

export interface ReplayView {
  proposed: { version: string; file: string };
  window: { from: Date; to: Date };
  /** the versions that were active during the window, oldest first (applied before `from`: the one in force then) */
  recorded: Array<{ version: string; appliedAt: Date }>;
  differences: ReplayDifference[];
  /** more users differ than `limit`; the summary counts them all */
  truncated: boolean;
  summary: ReplaySummary;
  warnings: string[];
}

const BATCH = 5000;
export const REPLAY_MAX_DIFFERENCES = 100_000;

export async function replayPolicy(pool: pg.Pool, holder: PolicyHolder, text: string, file: string, w: ReplayWindow): Promise<ReplayView> {
  const proposed = holder.parse(text, file); // PolicyError → 400 with file:line:column
  if (!(w.from.getTime() < w.to.getTime())) throw badRequest("invalidValue", "the replay window is empty: from must be before to");
  return withSnapshot(pool, async (client) => {
    const { timeline, warnings } = await recordedPolicies(client, holder, w);
    const engine = new PolicyReplay(proposed, recordedAt(timeline), await exceptions(client, w));
    const total = w.onProgress ? await countChanges(client, w) : 0;
    await streamChanges(client, w, (r) => engine.apply(r), (done) => w.onProgress?.(done, total));
    const { differences, truncated, summary } = engine.result(Math.min(w.limit ?? 1000, REPLAY_MAX_DIFFERENCES));
    return {
      proposed: { version: proposed.version, file }, window: { from: w.from, to: w.to },
      recorded: inForceDuring(timeline, w.from).map((v) => ({ version: v.version!, appliedAt: v.at })),
      differences, truncated, summary, warnings,
    };
  });
}

interface Version { at: Date; version: string | null; policy: Policy }

/** Every version applied up to the window's end, parsed once per content hash; none → the empty policy. */
async function recordedPolicies(q: pg.PoolClient, holder: PolicyHolder, w: ReplayWindow): Promise<{ timeline: Version[]; warnings: string[] }> {
  const { rows } = await q.query(`SELECT version, yaml, file, applied_at FROM policy_version WHERE applied_at <= $1 ORDER BY applied_at, id`, [w.to]);
  const parsed = new Map<string, Policy>();
  const warnings: string[] = [];
  const timeline: Version[] = [{ at: new Date(0), version: null, policy: PolicyHolder.empty() }];
  for (const r of rows) {
    let policy = parsed.get(r.version);
    if (!policy) {
      try { policy = holder.parse(r.yaml, r.file ?? "(stored)"); } catch (e) {
        if (!(e instanceof PolicyError)) throw e;
        warnings.push(`policy version ${r.version} (applied ${r.applied_at.toISOString()}) does not load in this broker; the version before it stands in for it`);
        policy = timeline.at(-1)!.policy;
      }
      parsed.set(r.version, policy);
    }
    timeline.push({ at: r.applied_at, version: r.version, policy });
  }
  return { timeline, warnings };
}

/** The version in force at an instant; records arrive in time order, so a cursor walks the timeline once. */
function recordedAt(timeline: readonly Version[]): (at: Date) => Policy {
  let i = 0;
  return (at) => {
    while (i + 1 < timeline.length && timeline[i + 1]!.at.getTime() <= at.getTime()) i++;
    while (i > 0 && timeline[i]!.at.getTime() > at.getTime()) i--;
    return timeline[i]!.policy;
  };
}

/** The version in force at `from` and those applied after it (the timeline ends at the window's end). */
function inForceDuring(timeline: readonly Version[], from: Date): Version[] {
  let start = 0;
  while (start + 1 < timeline.length && timeline[start + 1]!.at.getTime() <= from.getTime()) start++;
  return timeline.slice(start).filter((v) => v.version !== null);
}

/** Exceptions that were open at some point of the window, with their lifetime. */
async function exceptions(q: pg.PoolClient, w: ReplayWindow): Promise<ReplayException[]> {
  const { rows } = await q.query(
    `SELECT id, user_id, group_name, kind, expires_at, created_at, coalesce(revoked_at, expired_at) AS closed_at
       FROM membership_exception WHERE created_at <= $2 AND coalesce(revoked_at, expired_at, 'infinity') > $1`, [w.from, w.to]);
  return rows.map((r) => ({ id: r.id, userId: r.user_id, group: r.group_name, kind: r.kind, expiresAt: r.expires_at, createdAt: r.created_at, closedAt: r.closed_at }));
}

/** The window's User change records in (created_at, id) order, in keyset batches with one batch prefetched. */
/** How many HR changes of users the window holds (for progress; same snapshot as the stream). */
async function countChanges(q: pg.PoolClient, w: ReplayWindow): Promise<number> {
  const { rows } = await q.query(`SELECT count(*)::int AS n FROM change_record WHERE resource_type = 'User' AND created_at >= $1 AND created_at < $2`, [w.from, w.to]);
  return rows[0].n;
}

export async function streamChanges(q: pg.PoolClient, w: ReplayWindow, each: (r: ReplayRecord) => void, progress?: (done: number) => void): Promise<number> {
  const COLS = `SELECT id, resource_id, before, after, source, created_at FROM change_record WHERE resource_type = 'User' AND created_at < $2`;
  const fetch = (after: { at: Date; id: string } | null) => (after
    ? q.query(`${COLS} AND (created_at, id) > ($1, $3::bigint) ORDER BY created_at, id LIMIT ${BATCH}`, [after.at, w.to, after.id])
    : q.query(`${COLS} AND created_at >= $1 ORDER BY created_at, id LIMIT ${BATCH}`, [w.from, w.to]));
  let n = 0;
  // A batch requested ahead is awaited below; if evaluating the current one throws first, its failure must not
  // surface as an unhandled rejection.
  let pending = fetch(null);
  pending.catch(() => {});
  for (;;) {
    const { rows } = await pending;
    if (rows.length === BATCH) {
      const last = rows[rows.length - 1];
      pending = fetch({ at: last.created_at, id: String(last.id) });
      pending.catch(() => {});
    }
    for (const r of rows) each({ userId: r.resource_id, at: r.created_at, before: r.before, after: r.after, source: r.source });
    n += rows.length;
    progress?.(n);
    if (rows.length < BATCH) return n;
  }
}
