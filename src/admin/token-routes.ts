// Admin API for API tokens, mounted under /admin/v1 behind the admin scope (admin-router.ts), the same use
// cases as `scim-broker token …`. The clear value is in the create answer only; lists never carry it.
//   GET    /tokens                                        → {items}
//   POST   /tokens {name, scopes, source?, rate?}         → 201 {token, ...info}   (rate: req/s, or "off")
//   DELETE /tokens/{name}                                 → {info}   (revoked here on return, in other broker processes on PostgreSQL's notification)
// Declared once (admin-route.ts): the express routes and their OpenAPI operations share the schemas.
import type { Router } from "express";
import * as z from "zod";
import { parseRateLimit, SCOPES, type TokenStore } from "../auth/token-store.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$/;
const Name = z.string().regex(TOKEN_NAME, { error: "must be 1–100 letters, digits or . _ : @ - (starting with a letter or digit)" })
  .meta({ description: "unique among tokens" });
const at = z.iso.datetime({ offset: true });
const TokenInfo = z.object({
  id: z.string(), name: z.string(), scopes: z.array(z.enum(SCOPES)), source: z.string().nullable().meta({ description: "the HR source label of the users this token writes" }),
  createdAt: at, lastUsedAt: at.nullable(), revokedAt: at.nullable(),
  rateLimit: z.number().int().nullable().meta({ description: "requests per second; null: the broker's default; 0: unlimited" }),
}).meta({ id: "TokenInfo" });

const CreateToken = z.object({
  name: Name,
  scopes: z.array(z.enum(SCOPES, { error: `must be among ${SCOPES.join(", ")}` })).min(1, { error: `must name at least one of ${SCOPES.join(", ")}` }),
  source: z.string().max(200).nullable().optional().meta({ description: "HR source label for the users it creates" }),
  rate: z.union([z.number(), z.string()]).optional().meta({ description: "requests per second (1–1000000), or \"off\" for unlimited; absent: the broker's default" }),
});

export function tokenRoutes(d: { tokens: TokenStore }): AdminRoute[] {
  return [
    route({
      method: "get", path: "/tokens", tag: "tokens", summary: "List API tokens (never their values)",
      response: z.object({ items: z.array(TokenInfo) }),
      handle: async () => ({ items: await d.tokens.list() }),
    }),
    route({
      method: "post", path: "/tokens", tag: "tokens", summary: "Create a token; its value is in this answer only",
      status: 201, errors: [409], body: { schema: CreateToken },
      response: TokenInfo.extend({ token: z.string().meta({ description: "the bearer value: shown once, stored only as a hash" }) }),
      handle: async ({ body: b }) => {
        const { token, info } = await d.tokens.create({ name: b.name, scopes: b.scopes, source: b.source ?? null, rateLimit: parseRateLimit(b.rate) });
        return { token, ...info };
      },
    }),
    route({
      method: "delete", path: "/tokens/{name}", tag: "tokens", summary: "Revoke a token (refused at once here, and by other broker processes on PostgreSQL's notification)",
      params: z.object({ name: Name }), errors: [404], response: TokenInfo,
      handle: ({ params }) => d.tokens.revoke(params.name),
    }),
  ];
}

export const tokenRouter = (d: { tokens: TokenStore }): Router => routerOf(tokenRoutes(d));
