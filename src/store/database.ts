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
    const begin = beginWithFirstQuery(client);
    const ends: TransactionEnd[] = [];
    transactionEnds.set(client, ends);
    let committed = false;
    try {
      const out = await fn(client);
      if (begin.sent()) await client.query("COMMIT");
      committed = true;
      return out;
    } catch (e) {
      if (begin.sent()) await client.query("ROLLBACK").catch(() => {});
      if (attempt < ATTEMPTS && TRANSIENT.has((e as { code?: string })?.code ?? "")) continue;
      mapDbError(e);
    } finally {
      transactionEnds.delete(client);
      begin.restore();
      client.release();
      for (const end of ends) end(committed);
    }
  }
}

type TransactionEnd = (committed: boolean) => void;
/** The callbacks of each transaction withTransaction is running, by its client. */
const transactionEnds = new WeakMap<pg.PoolClient, TransactionEnd[]>();

/**
 * Calls `fn(committed)` once the transaction withTransaction runs on `client` has ended — after COMMIT
 * returned (true) or after a rollback (false; a retried attempt ends too) — and after the client went back
 * to the pool. For work that must start only once the change is durable and visible to other connections
 * (the fan-out's leaver fast path) without delaying the caller. `fn` must not throw. Returns false, and never
 * calls `fn`, when `client` is not in a transaction of withTransaction's: the caller then cannot rely on it.
 */
export function onTransactionEnd(client: pg.PoolClient, fn: TransactionEnd): boolean {
  const ends = transactionEnds.get(client);
  if (!ends) return false;
  ends.push(fn);
  return true;
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
