// Retry delay for a failed delivery. Pure: the durable queue stores the result as the job's run_at; nothing
// here sleeps (durable retries: no in-memory retry loops).
//
// "Full jitter" (delay uniform in [0, min(max, base·2^(attempt-1))]) spreads the retries of many jobs that
// failed together (an app outage) instead of synchronising them into waves. A server's Retry-After
// (RFC 9110 §10.2.3, sent with 429 per RFC 6585 §4 and with 503) is a floor: we never come back earlier
// than the app asked, even when that exceeds maxMs.

export interface BackoffOptions {
  /** First ceiling; default 1 s. */
  baseMs?: number;
  /** Cap of the exponential ceiling; default 10 min. */
  maxMs?: number;
  /** From AppHttpError.retryAfterMs; the result is never below it. */
  retryAfterMs?: number;
  /** Uniform [0, 1); injectable so tests are deterministic. Default Math.random. */
  random?: () => number;
}

export const DEFAULT_BACKOFF = Object.freeze({ baseMs: 1_000, maxMs: 600_000 });

/**
 * Delay in ms before retry number `attempt` (1 = first retry after the first failure).
 */
export function nextDelay(attempt: number, options: BackoffOptions = {}): number {
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const maxMs = Math.max(options.maxMs ?? DEFAULT_BACKOFF.maxMs, 0);
  const random = options.random ?? Math.random;
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // 2 ** 1100 is Infinity, and Math.min(Infinity, maxMs) is maxMs: no overflow concerns.
  const ceiling = Math.min(maxMs, baseMs * 2 ** (n - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  const jittered = Math.floor(r * ceiling);
  const floor = options.retryAfterMs !== undefined && options.retryAfterMs > 0 ? Math.ceil(options.retryAfterMs) : 0;
  return Math.max(jittered, floor);
}
