// /admin/v1: the admin API (admin scope). Each layer contributes its own router (audit, lifecycle,
// apps); errors are answered by the app's one error handler.
import express, { type Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import { assertJsonWithinLimits, assertRawJsonDepth } from "../scim/input-limits.ts";

export function adminRouter(auth: Authenticator, routers: Router[]): Router {
  const r = express.Router();
  r.use(auth.require("admin"), express.json({ limit: "1mb", type: ["application/json", "application/*+json"], verify: (_q, _s, buf) => assertRawJsonDepth(buf) }));
  // Bodies are bounded like SCIM bodies: depth, string length, NUL and unpaired surrogates (src/scim/input-limits.ts).
  r.use((req, _res, next) => { if (req.body && typeof req.body === "object") assertJsonWithinLimits(req.body); next(); });
  for (const sub of routers) r.use(sub);
  return r;
}
