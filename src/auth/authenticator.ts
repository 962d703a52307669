// Bearer authentication (RFC 6750) through passport-http-bearer, answering failures with SCIM errors.
// Verified tokens are cached for a few seconds: a round trip per request would cost ~10% of SCIM
// throughput, and revocation taking effect within BROKER_TOKEN_CACHE_MS is the documented trade-off.
import passport from "passport";
import { Strategy as BearerStrategy } from "passport-http-bearer";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { TokenStore, hashToken, type Scope, type TokenInfo } from "./token-store.ts";
import { forbidden, unauthorized } from "../shared/errors.ts";
import { isUnavailable } from "../store/database.ts";
import { dbUnavailable } from "../shared/errors.ts";

export interface Principal { tokenId: string; name: string; scopes: Scope[]; source: string | null }

export function createAuthenticator(tokens: TokenStore, opts: { cacheMs?: number } = {}) {
  const cacheMs = opts.cacheMs ?? 5000;
  const cache = new Map<string, { at: number; info: TokenInfo | null }>();
  const lookup = async (token: string): Promise<TokenInfo | null> => {
    const key = hashToken(token);
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < cacheMs) return hit.info;
    const info = await tokens.verify(token);
    if (cache.size > 10_000) cache.clear();
    cache.set(key, { at: Date.now(), info });
    return info;
  };
  const auth = new passport.Passport();
  auth.use("bearer", new BearerStrategy((token, done) => {
    lookup(token).then(
      (info) => done(null, info ? ({ tokenId: info.id, name: info.name, scopes: info.scopes, source: info.source } satisfies Principal) : false),
      (e) => done(isUnavailable(e) ? dbUnavailable(e) : e),
    );
  }));

  /** Middleware: authenticates and requires one of the given scopes. */
  const require = (...scopes: Scope[]): RequestHandler => (req: Request, res: Response, next: NextFunction) =>
    auth.authenticate("bearer", { session: false }, (err: unknown, principal: Principal | false) => {
      if (err) return next(err);
      if (!principal) return next(unauthorized());
      if (scopes.length && !scopes.some((s) => principal.scopes.includes(s))) return next(forbidden(`this token lacks the scope ${scopes.join(" or ")}`));
      req.user = principal;
      next();
    })(req, res, next);

  return { require, invalidate: () => cache.clear() };
}
export type Authenticator = ReturnType<typeof createAuthenticator>;
