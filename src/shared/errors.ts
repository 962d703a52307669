// Typed errors. Everything the broker throws on purpose is a DomainError carrying the HTTP status and
// the RFC 7644 §3.12 scimType; the HTTP edge (src/http/error-handler.ts) is the one place that turns
// them — and anything unexpected — into SCIM error bodies.
export type ScimType =
  | "invalidFilter" | "tooMany" | "uniqueness" | "mutability" | "invalidSyntax" | "invalidPath"
  | "noTarget" | "invalidValue" | "invalidVers" | "sensitive" | "invalidCursor" | "expiredCursor";

/** Stable error codes (documented in the README) used in logs, API errors and CLI output. */
export type ErrorCode =
  | "BAD_REQUEST" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "CONFLICT" | "PRECONDITION_FAILED"
  | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "DB_UNAVAILABLE" | "INTERNAL" | "NOT_IMPLEMENTED" | "METHOD_NOT_ALLOWED" | "TOO_MANY_REQUESTS";

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    message: string,
    readonly scimType?: ScimType,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DomainError";
  }
}

export const badRequest = (scimType: ScimType, message: string) => new DomainError("BAD_REQUEST", 400, message, scimType);
export const notFound = (what: string) => new DomainError("NOT_FOUND", 404, `${what} not found`);
export const conflict = (message: string) => new DomainError("CONFLICT", 409, message, "uniqueness");
export const preconditionFailed = (message: string) => new DomainError("PRECONDITION_FAILED", 412, message);
export const unauthorized = (message = "Invalid or missing bearer token") => new DomainError("UNAUTHORIZED", 401, message);
export const forbidden = (message: string) => new DomainError("FORBIDDEN", 403, message);
export const dbUnavailable = (cause?: unknown) =>
  new DomainError("DB_UNAVAILABLE", 503, "The broker's database is unavailable; retry later", undefined, { cause });
