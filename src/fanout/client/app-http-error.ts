// The one error type the outbound SCIM client throws. A job handler decides from `code` and `retryable`
// alone: retry later with backoff (network, timeout, 429, 5xx) or dead-letter with the app's response
// (other 4xx). No secret ever reaches `message`, `body` or `toJSON()`: the client passes its secrets in
// so that an app echoing our Authorization header back in its error body is scrubbed too.
//
// Stable codes (logged, stored on dead letters, documented for operators):
//   FANOUT_NETWORK          connection refused/reset, DNS, TLS             retryable
//   FANOUT_TIMEOUT          no complete response within the app's timeoutMs  retryable
//   FANOUT_RATE_LIMITED     429 (RFC 6585 §4), honour retryAfterMs          retryable
//   FANOUT_UNAVAILABLE      5xx other than 501, and 408                     retryable
//   FANOUT_NOT_IMPLEMENTED  501 / 405: the app lacks the method (PATCH)     permanent: fix the dialect
//   FANOUT_NOT_FOUND        404 (RFC 7644 §3.12)                            permanent: apply onMissing
//   FANOUT_CONFLICT         409 uniqueness (RFC 7644 §3.3, §3.12)           permanent: look up and link
//   FANOUT_UNAUTHORIZED     401/403 (after one token refresh)               auth failure of the app (below)
//   FANOUT_CREDENTIAL_MISSING a credential's ${VAR} is not set on the server auth failure of the app
//   FANOUT_REJECTED         any other 4xx, e.g. 400 invalidValue            permanent
//   FANOUT_AUTH_TOKEN       OAuth2 token endpoint failed                    retryable if 5xx/network, else
//                                                                           an auth failure of the app
//   FANOUT_BAD_RESPONSE     2xx we cannot use (no id, not JSON)             permanent
//   FANOUT_AMBIGUOUS_MATCH  a lookup by the matching attribute found > 1    permanent: a human decides
//
// An auth failure (`authFailure`) is about the app, not the request: one rotated token fails every delivery.
// It is never dead-lettered: the app is marked auth-failing and quarantined, deliveries wait, and the first
// request that authenticates again releases them (app-health.ts).

export type FanoutErrorCode =
  | "FANOUT_NETWORK"
  | "FANOUT_TIMEOUT"
  | "FANOUT_RATE_LIMITED"
  | "FANOUT_UNAVAILABLE"
  | "FANOUT_NOT_IMPLEMENTED"
  | "FANOUT_NOT_FOUND"
  | "FANOUT_CONFLICT"
  | "FANOUT_UNAUTHORIZED"
  | "FANOUT_CREDENTIAL_MISSING"
  | "FANOUT_REJECTED"
  | "FANOUT_AUTH_TOKEN"
  | "FANOUT_BAD_RESPONSE"
  | "FANOUT_AMBIGUOUS_MATCH";

/** Longest app response body kept on an error (and so on a dead letter). */
export const MAX_ERROR_BODY_CHARS = 2048;

export interface AppHttpErrorInit {
  app: string;
  method: string;
  /** Request path without the query string: filters carry userNames, which are personal data. */
  path: string;
  code: FanoutErrorCode;
  status?: number;
  body?: string;
  retryAfterMs?: number;
  /** Values to scrub from the body (tokens, passwords). */
  secrets?: readonly string[];
  cause?: unknown;
  detail?: string;
}

export class AppHttpError extends Error {
  override readonly name = "AppHttpError";
  readonly app: string;
  readonly method: string;
  readonly path: string;
  readonly code: FanoutErrorCode;
  /** HTTP status, or undefined when no response arrived (network error, timeout). */
  readonly status: number | undefined;
  /** The app's response body, secrets scrubbed, truncated to MAX_ERROR_BODY_CHARS. */
  readonly body: string | undefined;
  /** RFC 7644 §3.12 scimType from the app's error body, when it sent one. */
  readonly scimType: string | undefined;
  readonly retryable: boolean;
  /** From Retry-After (RFC 9110 §10.2.3), in ms from when the response arrived. */
  readonly retryAfterMs: number | undefined;

  constructor(init: AppHttpErrorInit) {
    const body = init.body === undefined ? undefined : truncate(scrub(init.body, init.secrets ?? []));
    const scim = parseScimError(body);
    const what = init.status === undefined ? (init.detail ?? init.code) : `${init.status}${scim.detail ? `: ${scim.detail}` : ""}`;
    super(`${init.app}: ${init.method} ${init.path} failed (${init.code}) ${scrub(what, init.secrets ?? [])}`.trim(), {
      cause: init.cause,
    });
    this.app = init.app;
    this.method = init.method;
    this.path = init.path;
    this.code = init.code;
    this.status = init.status;
    this.body = body;
    this.scimType = scim.scimType;
    this.retryable = isRetryableCode(init.code, init.status);
    this.retryAfterMs = init.retryAfterMs;
  }

  /** The app refuses our credentials (or we have none): an app-level condition, never one request's fault. */
  get authFailure(): boolean {
    if (this.code === "FANOUT_UNAUTHORIZED" || this.code === "FANOUT_CREDENTIAL_MISSING") return true;
    return this.code === "FANOUT_AUTH_TOKEN" && !this.retryable;
  }

  /** True when the target resource does not exist (the caller applies the app's onMissing policy). */
  get notFound(): boolean {
    return this.code === "FANOUT_NOT_FOUND";
  }

  /** What a dead letter stores: everything an operator needs, nothing secret (the cause is dropped). */
  toJSON(): Record<string, unknown> {
    const { app, method, path, code, status, body, scimType, retryable, retryAfterMs, message } = this;
    return { name: this.name, app, method, path, code, status, scimType, retryable, retryAfterMs, message, body };
  }
}

/** Maps an HTTP status to our code. RFC 7644 §3.12 lists the statuses a SCIM server returns. */
export function codeForStatus(status: number): FanoutErrorCode {
  if (status === 429) return "FANOUT_RATE_LIMITED";
  if (status === 408) return "FANOUT_UNAVAILABLE";
  // 501/405: retrying the same method can never succeed; the fix is PUT instead of PATCH.
  if (status === 501 || status === 405) return "FANOUT_NOT_IMPLEMENTED";
  if (status >= 500) return "FANOUT_UNAVAILABLE";
  if (status === 404) return "FANOUT_NOT_FOUND";
  if (status === 409) return "FANOUT_CONFLICT";
  if (status === 401 || status === 403) return "FANOUT_UNAUTHORIZED";
  return "FANOUT_REJECTED";
}

const RETRYABLE: ReadonlySet<FanoutErrorCode> = new Set([
  "FANOUT_NETWORK",
  "FANOUT_TIMEOUT",
  "FANOUT_RATE_LIMITED",
  "FANOUT_UNAVAILABLE",
]);

function isRetryableCode(code: FanoutErrorCode, status: number | undefined): boolean {
  // A token endpoint that is down is transient; one that rejects our client credentials is not.
  if (code === "FANOUT_AUTH_TOKEN") return status === undefined || status >= 500 || status === 429;
  return RETRYABLE.has(code);
}

/**
 * Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns ms from `nowMs`, 0 for a
 * date in the past, undefined when absent or unparseable (then plain backoff applies).
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only date-looking values: Date.parse("5.5") would happily return a year-2000 timestamp.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_BODY_CHARS ? text : `${text.slice(0, MAX_ERROR_BODY_CHARS)}…[truncated]`;
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // Short values (e.g. a 3-char password) would shred ordinary words; they are not worth the noise.
  for (const secret of secrets) if (secret.length >= 6) out = out.split(secret).join("[redacted]");
  return out;
}

/** RFC 7644 §3.12 error bodies carry `detail` and `scimType`; anything else is left as raw body text. */
function parseScimError(body: string | undefined): { detail?: string; scimType?: string } {
  if (!body) return {};
  try {
    const json = JSON.parse(body) as { detail?: unknown; scimType?: unknown };
    return {
      detail: typeof json.detail === "string" ? json.detail.slice(0, 200) : undefined,
      scimType: typeof json.scimType === "string" ? json.scimType : undefined,
    };
  } catch {
    return {};
  }
}
