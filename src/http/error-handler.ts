// The one edge where errors become HTTP: DomainErrors keep their status/scimType; body-parser failures
// become 400 invalidSyntax / 413; database unavailability becomes 503; anything else is logged and
// answered 500 — never 404 (scimmy-notes trap 1), never a crash.
import type { ErrorRequestHandler, RequestHandler } from "express";
import { DomainError, dbUnavailable } from "../shared/errors.ts";
import { isUnavailable } from "../store/database.ts";
import { errorBody, sendScim } from "./scim-response.ts";
import type { Logger } from "../shared/logger.ts";

export function toDomainError(err: any): DomainError {
  if (err instanceof DomainError) return err;
  if (err?.type === "entity.too.large") return new DomainError("PAYLOAD_TOO_LARGE", 413, `request body exceeds the limit of ${err.limit} bytes`);
  if (err?.type === "entity.parse.failed") return new DomainError("BAD_REQUEST", 400, "the request body is not valid JSON", "invalidSyntax");
  if (err?.type === "encoding.unsupported" || err?.type === "charset.unsupported") return new DomainError("BAD_REQUEST", 400, String(err.message), "invalidSyntax");
  if (err?.status === 400 && err?.expose) return new DomainError("BAD_REQUEST", 400, String(err.message), "invalidSyntax");
  if (isUnavailable(err)) return dbUnavailable(err);
  return new DomainError("INTERNAL", 500, "internal error");
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toDomainError(err);
    const level = e.status >= 500 ? "error" : "debug";
    log[level]({ code: e.code, status: e.status, method: req.method, url: req.originalUrl, reqId: (req as any).id, err: e.status >= 500 ? err : undefined }, e.message);
    if (res.headersSent) { res.end(); return; }
    if (e.status === 401) res.set("WWW-Authenticate", 'Bearer realm="scim-broker"');
    if (e.status === 503) res.set("Retry-After", "5");
    sendScim(res, e.status, errorBody(e));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) =>
  next(new DomainError("NOT_FOUND", 404, `no endpoint ${req.method} ${req.path}`));
