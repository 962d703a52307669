// Bearer authentication (RFC 6750) through passport-http-bearer, for both APIs; failures are DomainErrors
// that each API's error edge renders in its own shape.
//
// - The token comes from the Authorization header only. `?access_token=` (RFC 6750 §2.3) is refused with
//   401 even next to a valid header: URLs end up in proxy and server logs (§5.3), so the token is burnt.
// - The token's row is read once and then served from memory (token-store.ts) until PostgreSQL notifies
//   that the row changed: revoking a token — API, CLI or SQL, any broker process — takes effect in the
//   revoking process when revoke returns and in every other one when the commit's notification reaches it;
//   while a process's listening connection is down it reads the row on every request instead.
// - Then the scope, then the token's request rate (request-rate-limit.ts).
import passport from "passport";
import { Strategy as BearerStrategy } from "passport-http-bearer";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { TokenStore, Scope, TokenInfo } from "./token-store.ts";
import { forbidden, unauthorized } from "../shared/errors.ts";
import { isUnavailable } from "../store/database.ts";
import { dbUnavailable } from "../shared/errors.ts";
import { RequestRateLimiter } from "./request-rate-limit.ts";
import { systemClock, type Clock } from "../domain/clock.ts";

export interface Principal { tokenId: string; name: string; scopes: Scope[]; source: string | null; rateLimit: number | null }

const URL_TOKEN = /^access_token$/i;

export function createAuthenticator(tokens: TokenStore, opts: { clock?: Clock; defaultRateLimit?: number } = {}) {
  const limiter = new RequestRateLimiter(opts.clock ?? systemClock, opts.defaultRateLimit ?? 0);
  const auth = new passport.Passport();
  auth.use("bearer", new BearerStrategy((token, done) => {
    tokens.verify(token).then(
      (info: TokenInfo | null) => done(null, info ? ({ tokenId: info.id, name: info.name, scopes: info.scopes, source: info.source, rateLimit: info.rateLimit } satisfies Principal) : false),
      (e) => done(isUnavailable(e) ? dbUnavailable(e) : e),
    );
  }));

  /** Middleware: authenticates, requires one of the given scopes, and counts the request against the token's rate. */
  const require = (...scopes: Scope[]): RequestHandler => (req: Request, res: Response, next: NextFunction) => {
    const query = req.query as Record<string, unknown> | undefined;
    if (query && Object.keys(query).some((k) => URL_TOKEN.test(k)))
      return next(unauthorized("tokens in the URL are refused (RFC 6750 §2.3): send it in the Authorization header"));
    auth.authenticate("bearer", { session: false }, (err: unknown, principal: Principal | false) => {
      if (err) return next(err);
      if (!principal) return next(unauthorized());
      if (scopes.length && !scopes.some((s) => principal.scopes.includes(s))) return next(forbidden(`this token lacks the scope ${scopes.join(" or ")}`));
      try { limiter.take(principal.tokenId, principal.rateLimit); } catch (e) { return next(e); }
      req.user = principal;
      next();
    })(req, res, next);
  };

  return { require };
}
export type Authenticator = ReturnType<typeof createAuthenticator>;
