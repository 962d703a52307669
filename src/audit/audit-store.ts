// The audit log's read side and its sealer, in SQL: seal committed rows into the hash chain, verify the
// chain against the database in batches, query with filters, export as JSON lines.
//
// Sealing order. Writers take seq from audit_next_seq() (xid first, then nextval) and commit whenever they
// commit, so seq order is not commit order: a transaction may hold seq 5 while seq 6 has long committed.
// Chaining 6 then would skip 5 for ever. A per-row test "inserting xid < oldest running xid" does not
// prevent that (the holder of 6 may have taken its xid before the holder of 5), so the sealer uses a fence:
//   1. H  = the sequence's last_value: every seq handed out so far (CACHE 1, see the migration);
//   2. X0 = a fresh xid, assigned after step 1. A transaction holding a seq <= H took its xid before its
//      seq, hence before X0: its xid is < X0;
//   3. wait until no transaction older than X0 is running (pg_snapshot_xmin >= X0). Now every row with
//      seq <= H that will ever commit has committed and is visible;
//   4. chain the visible unsealed rows with tipSeq < seq <= H in seq order.
// So chain order is seq order, nothing below the tip is ever left unsealed (verify treats such a row as
// inserted out of band), and no writer waits on anything. Step 3 is bounded by maxWaitMs: while an older
// writing transaction is still open, the round seals nothing and says settled: false.
import { once } from "node:events";
import type { Writable } from "node:stream";
import type pg from "pg";
import { mapDbError, withSnapshot } from "../store/database.ts";
import type { Logger } from "../shared/logger.ts";
import type { AuditEvent, AuditKind } from "./audit-log.ts";
import {
  ChainVerifier, outOfBandBreak, sealRows,
  type ChainBreakReason, type Checkpoint, type SealedRow,
} from "./audit-chain.ts";

type Q = Pick<pg.PoolClient, "query">;

// Advisory lock key held by the one sealer at a time (graphile-worker and Prisma use others).
const SEAL_LOCK = 7_242_017_001;
export const MAX_AUDIT_PAGE = 1000;

const COLUMNS = `seq, occurred_at, kind, user_id, group_name, app, cause, details, chain_index, prev_hash, hash`;
const nullableNumber = (v: unknown) => (v === null || v === undefined ? null : Number(v));
function toEvent(r: Record<string, any>): AuditEvent {
  return {
    seq: Number(r.seq), at: r.occurred_at, kind: r.kind as AuditKind, userId: r.user_id, groupName: r.group_name,
    app: r.app, cause: r.cause ?? {}, details: r.details, chainIndex: nullableNumber(r.chain_index),
    prevHash: r.prev_hash, hash: r.hash,
  };
}

async function connect(pool: pg.Pool): Promise<pg.PoolClient> {
  try { return await pool.connect(); } catch (e) { mapDbError(e); }
}

async function readTip(q: Q): Promise<{ tip: Checkpoint | null; tipSeq: number }> {
  const { rows } = await q.query(`SELECT chain_index, hash, seq FROM audit_event WHERE chain_index IS NOT NULL ORDER BY chain_index DESC LIMIT 1`);
  return rows.length ? { tip: { chainIndex: Number(rows[0].chain_index), hash: rows[0].hash }, tipSeq: Number(rows[0].seq) } : { tip: null, tipSeq: 0 };
}

// ---- sealing -------------------------------------------------------------------------------------------

export interface SealOptions { maxWaitMs?: number; batchSize?: number }
export interface SealResult { sealed: number; settled: boolean; tip: Checkpoint | null }

/** Chains every committed row up to the fence (see the top of this file). Safe to call concurrently. */
export async function sealAudit(pool: pg.Pool, opts: SealOptions = {}): Promise<SealResult> {
  const maxWaitMs = opts.maxWaitMs ?? 2000;
  const batchSize = opts.batchSize ?? 2000;
  const client = await connect(pool);
  let locked = false;
  try {
    // A session lock, held across the batch transactions below; a second sealer waits here, then finds
    // the work done. It never blocks writers.
    await client.query(`SELECT pg_advisory_lock($1)`, [SEAL_LOCK]);
    locked = true;
    const fence = Number((await client.query(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS h FROM audit_event_seq_seq`)).rows[0].h);
    const x0 = (await client.query(`SELECT pg_current_xact_id()::text AS x0`)).rows[0].x0 as string; // own autocommit transaction
    const settled = await olderTransactionsFinished(client, x0, maxWaitMs);
    let sealed = 0;
    let { tip } = await readTip(client);
    for (let more = settled; more; ) {
      const batch = await sealBatch(client, fence, batchSize);
      sealed += batch.sealed;
      tip = batch.tip ?? tip;
      more = batch.sealed === batchSize;
    }
    return { sealed, settled, tip };
  } catch (e) {
    return mapDbError(e);
  } finally {
    if (locked) await client.query(`SELECT pg_advisory_unlock($1)`, [SEAL_LOCK]).catch(() => {});
    client.release();
  }
}

// One transaction: chain the next unsealed rows after the tip, up to the fence. Rows are read again here,
// after the fence, so what is hashed is exactly what is stored.
async function sealBatch(client: pg.PoolClient, fence: number, batchSize: number): Promise<{ sealed: number; tip: Checkpoint | null }> {
  await client.query("BEGIN");
  try {
    await client.query(`SELECT set_config('scim_broker.audit_sealer', 'on', true)`); // the trigger's permission
    const t = await readTip(client);
    const { rows } = await client.query(
      `SELECT ${COLUMNS} FROM audit_event WHERE chain_index IS NULL AND seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
      [t.tipSeq, fence, batchSize]);
    const links = sealRows(t.tip, rows.map(toEvent));
    if (links.length > 0) {
      await client.query(
        `UPDATE audit_event a SET chain_index = u.ci, prev_hash = u.ph, hash = u.h
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(seq, ci, ph, h) WHERE a.seq = u.seq`,
        [links.map((l) => l.seq), links.map((l) => l.chainIndex), links.map((l) => l.prevHash), links.map((l) => l.hash)]);
    }
    await client.query("COMMIT");
    const last = links.at(-1);
    return { sealed: links.length, tip: last ? { chainIndex: last.chainIndex, hash: last.hash } : null };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}

// Polls rather than blocks: PostgreSQL has no SQL-level "wait for these xids"; write transactions here
// last milliseconds, so the first or second poll normally succeeds.
async function olderTransactionsFinished(q: Q, x0: string, maxWaitMs: number): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
    const { rows } = await q.query(`SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done`, [x0]);
    if (rows[0].done) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise((r) => setTimeout(r, Math.min(pause, left)));
  }
}

export interface AuditSealer { stop(): Promise<void> }

/** Seals every `intervalMs` until stopped (the broker starts one; stop() waits for a round in flight). */
export function startAuditSealer(pool: pg.Pool, opts: { intervalMs?: number; maxWaitMs?: number; log?: Logger } = {}): AuditSealer {
  const intervalMs = opts.intervalMs ?? 1000;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = sealAudit(pool, { maxWaitMs: opts.maxWaitMs ?? Math.min(intervalMs, 2000) })
      .then((r) => { if (!r.settled) opts.log?.debug("audit seal waiting for older transactions"); })
      .catch((err) => { opts.log?.warn({ err, code: (err as { code?: string }).code }, "audit seal failed; retrying next round"); })
      .finally(() => { running = undefined; if (!stopped) timer = setTimeout(tick, intervalMs); });
  };
  timer = setTimeout(tick, intervalMs);
  return { async stop() { stopped = true; clearTimeout(timer); await running; } };
}

// ---- verification --------------------------------------------------------------------------------------

export interface VerifyOptions { from?: Checkpoint; batchSize?: number; seal?: boolean; sealMaxWaitMs?: number }
export interface AuditVerifyReport {
  ok: boolean;
  checked: number;
  brokenAt?: { chainIndex: number | null; seq: number | null };
  reason?: ChainBreakReason;
  detail?: string;
  tip: Checkpoint | null; // record it outside the database; `from` it next time
  pending: number; // committed rows not sealed yet
}

/**
 * Recomputes the chain from the start (or from a trusted checkpoint) and reports the first broken row.
 * Seals first (unless seal: false), then reads one REPEATABLE READ snapshot in batches of chain_index,
 * so concurrent appends and sealing neither disturb nor confuse it.
 */
export async function verifyAudit(pool: pg.Pool, opts: VerifyOptions = {}): Promise<AuditVerifyReport> {
  if (opts.seal !== false) await sealAudit(pool, { maxWaitMs: opts.sealMaxWaitMs });
  const batchSize = opts.batchSize ?? 5000;
  return withSnapshot(pool, async (client) => {
    const v = new ChainVerifier(opts.from);
    let after = opts.from ? opts.from.chainIndex - 1 : -1;
    for (;;) {
      const { rows } = await client.query(
        `SELECT ${COLUMNS} FROM audit_event WHERE chain_index > $1 ORDER BY chain_index LIMIT $2`, [after, batchSize]);
      for (const r of rows) if (v.push(toEvent(r) as SealedRow)) break;
      if (v.broken || rows.length < batchSize) break;
      after = Number(rows.at(-1).chain_index);
    }
    const res = v.finish();
    let broken = res.broken;
    if (!broken) {
      const low = await client.query(`SELECT seq FROM audit_event WHERE chain_index IS NULL ORDER BY seq LIMIT 1`);
      if (low.rows.length) broken = outOfBandBreak(res.tipSeq, Number(low.rows[0].seq));
    }
    const pending = Number((await client.query(`SELECT count(*) AS n FROM audit_event WHERE chain_index IS NULL`)).rows[0].n);
    return {
      ok: !broken, checked: res.checked, tip: res.tip, pending,
      ...(broken ? { brokenAt: { chainIndex: broken.chainIndex, seq: broken.seq }, reason: broken.reason, detail: broken.detail } : {}),
    };
  });
}

// ---- query and export ----------------------------------------------------------------------------------

export interface AuditFilter {
  userId?: string;
  group?: string; // compared case-insensitively, like SCIM displayName
  kind?: AuditKind | readonly AuditKind[];
  from?: Date; // inclusive
  to?: Date; // exclusive
  sealed?: boolean; // true: chained rows only (their order is final, so a tailing reader never misses one)
}
export interface AuditQuery extends AuditFilter { after?: number; limit?: number }
export interface AuditPage { items: AuditEvent[]; next: number | null }

async function selectPage(q: Q, f: AuditFilter, after: number | undefined, limit: number): Promise<AuditEvent[]> {
  const conds: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => { params.push(v); return `$${params.length}`; };
  if (f.userId) conds.push(`user_id = ${p(f.userId)}`);
  if (f.group) conds.push(`lower(group_name) = lower(${p(f.group)})`);
  const kinds = f.kind === undefined ? [] : typeof f.kind === "string" ? [f.kind] : [...f.kind];
  if (kinds.length) conds.push(`kind = ANY(${p(kinds)}::text[])`);
  if (f.from) conds.push(`occurred_at >= ${p(f.from)}`);
  if (f.to) conds.push(`occurred_at < ${p(f.to)}`);
  if (f.sealed !== undefined) conds.push(f.sealed ? `chain_index IS NOT NULL` : `chain_index IS NULL`);
  if (after !== undefined) conds.push(`seq > ${p(after)}`);
  const { rows } = await q.query(
    `SELECT ${COLUMNS} FROM audit_event ${conds.length ? `WHERE ${conds.join(" AND ")}` : ""} ORDER BY seq LIMIT ${p(limit)}`, params);
  return rows.map(toEvent);
}

/**
 * One page in seq order; `next` is the `after` for the following page (null on the last). A row that
 * commits late with a lower seq can land behind a cursor: readers that must see every row use sealed.
 */
export async function queryAudit(q: Q, query: AuditQuery = {}): Promise<AuditPage> {
  const limit = Math.max(1, Math.min(query.limit ?? 100, MAX_AUDIT_PAGE));
  try {
    const items = await selectPage(q, query, query.after, limit);
    return { items, next: items.length === limit ? items.at(-1)!.seq : null };
  } catch (e) {
    mapDbError(e);
  }
}

/**
 * Writes the matching events as JSON lines (one AuditEvent per line, chain fields included, so an
 * unfiltered export can be verified offline with verifyChain) and returns how many. Seals first; reads one
 * snapshot; honours the stream's back-pressure; does not end `out` (the caller owns it).
 */
export async function exportAudit(pool: pg.Pool, out: Writable, filter: AuditFilter = {}, opts: { seal?: boolean; batchSize?: number } = {}): Promise<number> {
  if (opts.seal !== false) await sealAudit(pool);
  let n = 0;
  return withSnapshot(pool, async (client) => {
    let after: number | undefined;
    for (;;) {
      const items = await selectPage(client, filter, after, opts.batchSize ?? 1000);
      for (const e of items) {
        if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, "drain");
        n += 1;
      }
      if (items.length < (opts.batchSize ?? 1000)) break;
      after = items.at(-1)!.seq;
    }
    return n;
  });
}
