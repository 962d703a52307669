// Admin API for API tokens, mounted under /admin/v1 behind the admin scope (admin-router.ts), the same use
// cases as `scim-broker token …`. The clear value is in the create answer only; lists never carry it.
//   GET    /tokens                                        → {items}
//   POST   /tokens {name, scopes, source?, rate?}         → 201 {token, ...info}   (rate: req/s, or "off")
//   DELETE /tokens/:name                                  → {info}   (revoked here on return, in other broker processes on PostgreSQL's notification)
import express, { type Request, type Router } from "express";
import { parseRateLimit, type TokenStore } from "./token-store.ts";

const bodyOf = (req: Request): Record<string, unknown> => (req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body : {});

export function tokenRouter(d: { tokens: TokenStore }): Router {
  const r = express.Router();
  r.get("/tokens", async (_req, res) => { res.json({ items: await d.tokens.list() }); });
  r.post("/tokens", async (req, res) => {
    const b = bodyOf(req);
    const { token, info } = await d.tokens.create({
      name: b.name as string, scopes: b.scopes, source: (b.source as string | undefined) ?? null, rateLimit: parseRateLimit(b.rate),
    });
    res.status(201).json({ token, ...info });
  });
  r.delete("/tokens/:name", async (req, res) => { res.json(await d.tokens.revoke(String(req.params.name))); });
  return r;
}
