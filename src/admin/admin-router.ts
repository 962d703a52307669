// /admin/v1: the admin API (admin scope). Each layer contributes its own router (audit, lifecycle, apps);
// this module is the admin API's one error edge: whatever goes wrong under /admin/v1 — authentication,
// authorisation, an unknown route, a method the route does not take, a broken or oversized body, a bad
// parameter in any contributed router — is answered {"error": {"code", "message"}} with the README's
// stable codes (SCIM bodies are for /scim/v2 only).
//
// GET /admin/v1/openapi.json is public (no token): the OpenAPI 3.1 document generated from the routers'
// declarations (admin-route.ts, openapi.ts). It describes shapes, never data, and API tooling fetches it
// before it has a token; every operation it lists still requires the admin token.
import { readFileSync } from "node:fs";
import * as z from "zod";
import express, { type Request, type Response, type NextFunction, type Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { assertJsonWithinLimits, assertRawJsonDepth } from "../scim/input-limits.ts";
import { adminErrorHandler } from "../http/error-handler.ts";
import { DomainError } from "../shared/errors.ts";
import { PolicyError, POLICY_INVALID } from "../rules/policy-loader.ts";
import type { Logger } from "../shared/logger.ts";
import { declaredRoutes, route, routerOf, type AdminRoute } from "./admin-route.ts";
import { openApiDocument } from "./openapi.ts";

const VERSION: string = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;

/** The public router of the document itself; the document covers it and every declared route of `routers`. */
function openApiRouter(routers: Router[]): Router {
  let doc: ReturnType<typeof openApiDocument> | undefined;
  const self: AdminRoute = route({
    method: "get", path: "/openapi.json", tag: "meta", public: true, summary: "This OpenAPI 3.1 document (no token needed)",
    response: z.looseObject({ openapi: z.literal("3.1.0"), paths: z.record(z.string(), z.unknown()) }),
    handle: () => (doc ??= openApiDocument([self, ...routers.flatMap(declaredRoutes)], { version: VERSION })),
  });
  return routerOf([self]);
}

export function adminRouter(auth: Authenticator, routers: Router[], log: Logger): Router {
  const r = express.Router();
  const open = openApiRouter(routers);
  r.use(open);
  r.use(auth.require("admin"), express.json({ limit: "1mb", type: ["application/json", "application/*+json"], verify: (_q, _s, buf) => assertRawJsonDepth(buf) }));
  // Bodies are bounded like SCIM bodies: depth, string length, NUL and unpaired surrogates (src/scim/input-limits.ts).
  r.use((req, _res, next) => { if (req.body && typeof req.body === "object") assertJsonWithinLimits(req.body); next(); });
  for (const sub of routers) r.use(sub);
  r.use(unmatched([open, ...routers]));
  r.use(adminErrorHandler(log, (err) => err instanceof PolicyError
    ? { e: new DomainError("BAD_REQUEST", 400, err.message), code: POLICY_INVALID, extra: { issues: err.issues } }
    : undefined));
  return r;
}

interface RouteLayer { route?: { methods: Record<string, boolean> }; match(path: string): unknown }

/**
 * No contributed route answered: 405 with Allow when the path exists under other methods (RFC 9110
 * §15.5.6), else 404. The routers' own route table is the source of truth, so a new route needs no entry
 * here. (Layer#match is router 2.x's side-effect-free matcher; a path it cannot decode was already
 * answered 400 by the routing itself.)
 */
function unmatched(routers: Router[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    const allowed = new Set<string>();
    for (const sub of routers) {
      for (const layer of sub.stack as unknown as RouteLayer[]) {
        if (!layer.route) continue;
        let hit: unknown;
        try { hit = layer.match(req.path); } catch { hit = false; }
        if (!hit) continue;
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== "_all") allowed.add(m.toUpperCase());
      }
    }
    if (allowed.size && !allowed.has(req.method)) {
      const allow = [...allowed].join(", ");
      res.set("Allow", allow);
      return next(new DomainError("METHOD_NOT_ALLOWED", 405, `${req.method} is not supported on ${req.baseUrl}${req.path}; use ${allow}`));
    }
    next(new DomainError("NOT_FOUND", 404, `no endpoint ${req.method} ${req.baseUrl}${req.path}`));
  };
}
