// createApp(deps): the express application, with no I/O of its own — the composition root (main.ts)
// and the tests hand it its dependencies.
import express, { type Express, type RequestHandler, type Router } from "express";
import { sendScim } from "./scim-response.ts";
import { errorBody } from "../scim/response-bodies.ts";
import { badRequest } from "../shared/errors.ts";
import { randomUUID } from "node:crypto";
import { errorHandler, notFoundHandler } from "./error-handler.ts";
import { healthRouter } from "./health.ts";
import type { Metrics } from "./metrics.ts";
import type { Logger } from "../shared/logger.ts";
import type pg from "pg";

// Express 5's req.query re-parses on every access (docs/scimmy.md 2). A plain URLSearchParams parse
// also turns Entra's `+`-encoded spaces into spaces (filter=userName+eq+%22x%22).
export const scimQueryParser = (qs: string): Record<string, unknown> => Object.fromEntries(new URLSearchParams(qs));

/**
 * Route parameters are percent-decoded by the router; a malformed escape (`%ff`, `%E2%82`, `%u0041`) would
 * surface there as a URIError (a 500). RFC 3986 §2.1: it is a bad request — answered before routing, in
 * the error shape of the API the path belongs to (SCIM §3.12 body, or the admin API's).
 */
const rejectMalformedPath: RequestHandler = (req, res, next) => {
  try { decodeURIComponent(req.path); return next(); } catch { /* answered below */ }
  const message = "the request path is not valid percent-encoded UTF-8 (RFC 3986 §2.1)";
  if (/^\/admin\//i.test(req.path)) { res.status(400).json({ error: { code: "BAD_REQUEST", message } }); return; }
  sendScim(res, 400, errorBody(badRequest("invalidSyntax", message)));
};

export interface AppDeps { log: Logger; pool: pg.Pool; metrics: Metrics; scim: Router; admin?: Router; console?: Router; ssf?: Router }

export function createApp(d: AppDeps): Express {
  const app = express();
  app.set("query parser", scimQueryParser);
  app.set("etag", false); // express' body-hash ETag is not SCIM versioning (RFC 7644 §3.14 is ours)
  app.set("x-powered-by", false);
  app.set("trust proxy", "loopback");
  app.use((req, res, next) => {
    const id = req.get("X-Request-Id") ?? randomUUID();
    (req as any).id = id;
    res.set("X-Request-Id", id);
    next();
  });
  app.use(d.metrics.middleware);
  app.use(rejectMalformedPath);
  app.use(healthRouter(d.pool));
  app.get("/metrics", async (_req, res) => { res.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()); });
  app.use("/scim/v2", d.scim);
  if (d.ssf) app.use(d.ssf); // /.well-known/ssf-configuration and /ssf/* (src/ssf)
  if (d.admin) app.use("/admin/v1", d.admin);
  if (d.console) app.use("/console", d.console);
  if (d.console) app.get("/", (_req, res) => res.redirect(302, "/console/")); // a browser pointed at the broker finds the console
  app.use(notFoundHandler);
  app.use(errorHandler(d.log));
  return app;
}
