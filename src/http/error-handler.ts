// Errors become HTTP at one edge per API, and both edges share this module: DomainErrors keep their status
// and code; body-parser failures become 400 / 413; database unavailability becomes 503; anything else is
// logged and answered 500 — never 404 (docs/scimmy.md 1), never a crash, never JavaScript internals.
//   /scim/v2   RFC 7644 §3.12 bodies (errorHandler, mounted last on the app: it also answers every path
//              outside the two APIs);
//   /admin/v1  {"error": {"code", "message"}} with the README's stable codes (adminErrorHandler, mounted
//              last on the admin router by src/admin/admin-router.ts).
import type { ErrorRequestHandler, Request, RequestHandler, Response } from "express";
import { DomainError, dbUnavailable } from "../shared/errors.ts";
import { isUnavailable } from "../store/database.ts";
import { sendScim } from "./scim-response.ts";
import { errorBody } from "../scim/response-bodies.ts";
import type { Logger } from "../shared/logger.ts";

export function toDomainError(err: any): DomainError {
  if (err instanceof DomainError) return err;
  if (err?.type === "entity.too.large") return new DomainError("PAYLOAD_TOO_LARGE", 413, `request body exceeds the limit of ${err.limit} bytes`);
  if (err?.type === "entity.parse.failed") return new DomainError("BAD_REQUEST", 400, "the request body is not valid JSON", "invalidSyntax");
  if (err?.type === "encoding.unsupported" || err?.type === "charset.unsupported") return new DomainError("BAD_REQUEST", 400, String(err.message), "invalidSyntax");
  // router 2.x decoding a path parameter (`%ff`, `%E2%82`): URIError with status 400 but no `expose`.
  if (err instanceof URIError && (err as { status?: number }).status === 400)
    return new DomainError("BAD_REQUEST", 400, `the request path is not valid percent-encoding (RFC 3986 §2.1): ${/'([^']*)'/.exec(err.message)?.[1] ?? "a path segment"}`, "invalidSyntax");
  if (err?.status === 400 && err?.expose) return new DomainError("BAD_REQUEST", 400, String(err.message), "invalidSyntax");
  if (isUnavailable(err)) return dbUnavailable(err);
  return new DomainError("INTERNAL", 500, "internal error");
}

/** What both edges do before writing a body: log (5xx at error level, with the cause) and set the headers. */
function prepare(log: Logger, err: unknown, e: DomainError, req: Request, res: Response): boolean {
  const level = e.status >= 500 ? "error" : "debug";
  // req.path, not the URL: the query string may carry a token (RFC 6750 §2.3) and is never logged.
  log[level]({ code: e.code, status: e.status, method: req.method, path: req.baseUrl + req.path, reqId: (req as any).id, err: e.status >= 500 ? err : undefined }, e.message);
  if (res.headersSent) { res.end(); return false; }
  if (e.status === 401) res.set("WWW-Authenticate", 'Bearer realm="scim-broker"');
  if (e.status === 503) res.set("Retry-After", "5");
  const retryAfter = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retryAfter !== undefined) res.set("Retry-After", String(retryAfter));
  return true;
}

/** The SCIM edge (RFC 7644 §3.12), and the answer for any path outside /admin/v1. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toDomainError(err);
    if (prepare(log, err, e, req, res)) sendScim(res, e.status, errorBody(e));
  };
}

/**
 * The admin edge: {"error": {"code", "message", ...extra}}. `classify` lets the admin router map errors of
 * its own layers that carry more than a DomainError (e.g. a policy's list of issues).
 */
export function adminErrorHandler(log: Logger, classify: (err: unknown) => { e: DomainError; code?: string; extra?: Record<string, unknown> } | undefined = () => undefined): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const special = classify(err);
    const e = special?.e ?? toDomainError(err);
    if (prepare(log, err, e, req, res)) res.status(e.status).json({ error: { code: special?.code ?? e.code, message: e.message, ...special?.extra } });
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) =>
  next(new DomainError("NOT_FOUND", 404, `no endpoint ${req.method} ${req.baseUrl}${req.path}`));
