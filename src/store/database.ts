// One pg pool for the whole process, shared by Prisma (through @prisma/adapter-pg), the SQL-level
// repositories of the SCIM hot path and the job queue, so a request never waits on two pools.
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import { dbUnavailable, DomainError } from "../shared/errors.ts";
import { NotificationListener } from "./notification-listener.ts";

export type Prisma = PrismaClient;
export interface Database {
  pool: pg.Pool; prisma: PrismaClient;
  /** LISTEN/NOTIFY on a connection of its own, opened at the first subscription (notification-listener.ts) */
  notifications: NotificationListener;
  close(): Promise<void>;
}

// Return int8 (bigserial seq, counts) as JS numbers: our values stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export function createDatabase(url: string, opts: { max?: number } = {}): Database {
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 20, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 });
  // An idle client's error (database restarted, network cut) must not crash the process: the pool drops
  // the client and the next query reconnects. Requests in flight fail and are mapped to 503.
  pool.on("error", () => {});
  pool.on("connect", (client) => { client.on("error", () => {}); }); // same for checked-out clients
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: false }) });
  const notifications = new NotificationListener(url);
  return {
    pool, prisma, notifications,
    async close() { await notifications.close(); await prisma.$disconnect().catch(() => {}); await pool.end().catch(() => {}); },
  };
}

// SQLSTATE classes that mean "the database is not there right now" rather than "your request is wrong".
const UNAVAILABLE_CODES = new Set(["57P01", "57P02", "57P03", "53300", "08000", "08001", "08003", "08004", "08006"]);
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

export function isUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string; cause?: unknown } | undefined;
  if (!err) return false;
  if (err.code && (UNAVAILABLE_CODES.has(err.code) || NET_CODES.has(err.code))) return true;
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connect ECONNREFUSED/i.test(err.message ?? "")) return true;
  return err.cause !== undefined && err.cause !== e ? isUnavailable(err.cause) : false;
}

/** Maps a database error to a DomainError: unavailability → 503, anything else → rethrown unchanged. */
export function mapDbError(e: unknown): never {
  if (e instanceof DomainError) throw e;
  if (isUnavailable(e)) throw dbUnavailable(e);
  throw e;
}

/** PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back as a whole. */
const TRANSIENT = new Set(["40P01", "40001"]);
const ATTEMPTS = 3;

/**
 * Runs fn in a transaction on one pooled client. A transaction PostgreSQL aborted as a deadlock victim or for
 * a serialization failure is run again (at most three times in all), as PostgreSQL's documentation asks of
 * applications (§13.4, "Serialization Failure Handling"): nothing of it was written, so a client never sees
 * a 500 for two writers crossing. fn must therefore do nothing outside the database that it cannot repeat.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try { client = await pool.connect(); } catch (e) { mapDbError(e); }
    // Pipeline mode (pg's own, one Sync per statement): a statement is written as soon as it is issued, not
    // after the answer to the one before — what lets BEGIN travel with a parameterised first statement and a
    // write-behind statement with the COMMIT. Statements the transaction awaits one by one run as before.
    const pipelined = (client as PipelineClient).pipeline;
    (client as PipelineClient).pipeline = true;
    const begin = beginWithFirstQuery(client);
    const state: TransactionState = { ends: [], behind: [] };
    transactions.set(client, state);
    let committed = false;
    try {
      const out = await fn(client);
      if (begin.sent()) await commit(client, state);
      committed = true;
      return out;
    } catch (caught) {
      let e = caught;
      // A COMMIT that came back as ROLLBACK (a write-behind statement failed) has ended the transaction already.
      // The ROLLBACK queues behind the write-behind statements still in flight: once it is answered, so are they.
      if (begin.sent() && !state.ended) await client.query("ROLLBACK").catch(() => {});
      // A statement refused because a write-behind one had aborted the transaction (25P02): the cause is the latter's.
      if ((e as { code?: string })?.code === "25P02") e = (await behindFailure(state)) ?? e;
      if (attempt < ATTEMPTS && TRANSIENT.has((e as { code?: string })?.code ?? "")) continue;
      mapDbError(e);
    } finally {
      transactions.delete(client);
      begin.restore();
      (client as PipelineClient).pipeline = pipelined;
      client.release();
      for (const end of state.ends) end(committed);
    }
  }
}

/**
 * COMMIT, written right behind the write-behind statements still in flight (one write to the socket: they
 * were corked, writeBehind) and answered after them. If one of them failed, PostgreSQL has aborted the
 * transaction and answers the COMMIT with ROLLBACK: the statement's own error is the transaction's.
 */
async function commit(client: pg.PoolClient, state: TransactionState): Promise<void> {
  const done = client.query("COMMIT");
  const failed = await behindFailure(state);
  const result = await done.finally(() => { state.ended = true; });
  if (failed) throw failed;
  if (result.command !== "COMMIT") throw new Error(`the transaction ended with ${result.command}`);
}

async function behindFailure(state: TransactionState): Promise<unknown> {
  const outcomes = await Promise.allSettled(state.behind);
  return outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected")?.reason;
}

/**
 * A statement issued now and awaited later, or never (a write that stops before it needs the answer: a 404,
 * a refusal): its failure is reported where it is awaited, not as an unhandled rejection.
 */
export function issued<T>(sent: Promise<T>): Promise<T> {
  sent.catch(() => {});
  return sent;
}

/**
 * Holds what is written to the client's socket until the current run of JavaScript (its promise reactions
 * included) is over, then sends it as one write (Node's writable cork/uncork): statements issued one behind
 * the other in a pipelined transaction leave in one packet. Uncorked on the next tick, never later, so a
 * statement the caller then awaits is never held back.
 */
export function writeTogether(client: Pick<pg.PoolClient, "query">): void {
  const stream = (client as PipelineClient).connection?.stream;
  if (!stream?.cork || !stream.uncork || !(client as PipelineClient).pipeline) return;
  stream.cork();
  process.nextTick(() => stream.uncork!());
}

type PipelineClient = pg.PoolClient & { pipeline: boolean; connection: { stream: { cork?(): void; uncork?(): void } } };
type TransactionEnd = (committed: boolean) => void;
interface TransactionState {
  /** callbacks for the transaction's end (onTransactionEnd) */
  ends: TransactionEnd[];
  /** write-behind statements sent and not yet answered (writeBehind) */
  behind: Array<Promise<unknown>>;
  /** COMMIT or ROLLBACK has been answered: nothing left to roll back */
  ended?: boolean;
}
/** The state of each transaction withTransaction is running, by its client. */
const transactions = new WeakMap<pg.PoolClient, TransactionState>();

/**
 * Calls `fn(committed)` once the transaction withTransaction runs on `client` has ended — after COMMIT
 * returned (true) or after a rollback (false; a retried attempt ends too) — and after the client went back
 * to the pool. For work that must start only once the change is durable and visible to other connections
 * (the fan-out's leaver fast path) without delaying the caller. `fn` must not throw. Returns false, and never
 * calls `fn`, when `client` is not in a transaction of withTransaction's: the caller then cannot rely on it.
 */
export function onTransactionEnd(client: pg.PoolClient, fn: TransactionEnd): boolean {
  const state = transactions.get(client);
  if (!state) return false;
  state.ends.push(fn);
  return true;
}

/**
 * Sends a write whose answer the transaction does not need — it returns nothing the caller reads, and
 * nothing after it in the transaction depends on its success but the COMMIT — without waiting for that answer:
 * the statements issued after it queue behind it on the same connection (so they see what it wrote), and
 * withTransaction's COMMIT waits for it. If it fails, the transaction fails with its error, at COMMIT instead
 * of here: only for statements whose failure the caller would not handle anyway. Outside withTransaction
 * (a bare pool, a test's client) the write is awaited as any other.
 *
 * Why: on the HR write path the lifecycle's record (events, state, audit) is the last statement before
 * COMMIT; waiting for its answer before sending COMMIT cost a round trip, one more wake-up of the backend
 * and one more socket write per HR write (docs/performance.md). Corking the socket until the current
 * run of JavaScript ends lets the COMMIT that follows go out in the same write (Node's writable cork/uncork).
 */
export async function writeBehind(q: Pick<pg.PoolClient, "query">, query: pg.QueryConfig): Promise<void> {
  const state = transactions.get(q as pg.PoolClient);
  if (!state) { await q.query(query); return; }
  writeTogether(q);
  state.behind.push(issued(q.query(query))); // its error is reported by commit()
}

type QueryFn = pg.PoolClient["query"];

/**
 * BEGIN goes out with the transaction's first statement instead of in a round trip of its own: when that
 * statement is plain text without parameters (the policy lock of an HR write, policy-holder.ts), both travel
 * as one simple-query message, `BEGIN; <statement>` (PostgreSQL protocol §55.2.2.1: the statements of one
 * Query message run in order, the explicit BEGIN opens the transaction that the rest joins), and the answer
 * is the statement's own result. Any other first statement (parameters, a prepared name, a cursor) is queued
 * right behind a plain BEGIN on the same connection, as before. Nothing sent: nothing to commit or roll back.
 */
function beginWithFirstQuery(client: pg.PoolClient): { sent(): boolean; restore(): void } {
  const original = client.query;
  const own = Object.prototype.hasOwnProperty.call(client, "query");
  let sent = false;
  const restore = () => { if (own) client.query = original; else delete (client as { query?: unknown }).query; };
  const first = function (...args: unknown[]) {
    restore();
    sent = true;
    const [text, values] = args;
    if (typeof text === "string" && args.length === 1) {
      return (original as (t: string) => Promise<pg.QueryResult | pg.QueryResult[]>).call(client, `BEGIN; ${text}`)
        .then((r) => (Array.isArray(r) ? r[r.length - 1]! : r));
    }
    // Queued in order on this connection: BEGIN runs first; if it failed, so does the statement behind it.
    (original as (t: string) => Promise<unknown>).call(client, "BEGIN").catch(() => {});
    return (original as (...a: unknown[]) => unknown).apply(client, values === undefined && args.length === 1 ? [text] : args);
  };
  client.query = first as unknown as QueryFn;
  return { sent: () => sent, restore };
}

/**
 * Runs fn in one read-only REPEATABLE READ transaction: every statement of fn sees the same snapshot, so a
 * report that reads several tables (a person's records, the audit chain, a policy replay's window) is
 * consistent even while writers go on. Read-only: nothing to retry, nothing to roll back but the snapshot.
 */
export async function withSnapshot<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try { client = await pool.connect(); } catch (e) { mapDbError(e); }
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const out = await fn(client);
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    mapDbError(e);
  } finally {
    client.release();
  }
}
