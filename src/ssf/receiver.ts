// The receiver side's HTTP edge: POST /ssf/receive accepts a SET pushed by a trusted issuer (RFC 8935 §2):
// Content-Type application/secevent+jwt, the body the compact JWS. 202 when accepted (a replayed jti too:
// RFC 8935 §2.2 lets a recipient accept a SET it already has); 400 with {"err", "description"} (§2.3,
// codes of §2.4) when the SET is refused; 503 when the issuer's JWKS cannot be read (the transmitter
// retries). The pusher authenticates with a broker token with scope `ssf` (or `admin`): without one, 401
// (RFC 6750 §3.1, with WWW-Authenticate) and err authentication_failed; without the scope, 403 access_denied.
// What the SET does is receiver-apply.ts; verification is receiver-verify.ts.
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type pg from "pg";
import type { Authenticator, Principal } from "../auth/authenticator.ts";
import type { Clock } from "../domain/clock.ts";
import type { SsfReceiveIssuer } from "../domain/ssf-stream-config.ts";
import { DomainError } from "../shared/errors.ts";
import type { Logger } from "../shared/logger.ts";
import { receiveSet, type Deactivate } from "./receiver-apply.ts";
import { JwksUnavailable, SetRejected, SetVerifier, type SetErrorCode } from "./receiver-verify.ts";

export interface ReceiverRoutes { handler: RequestHandler[] }

export interface ReceiverOptions {
  auth: Authenticator; pool: pg.Pool; clock: Clock; log: Logger;
  /** the trust list: broker.yaml `ssf.receive.issuers`, read at each request (a new policy applies at once) */
  issuers: () => readonly SsfReceiveIssuer[];
  deactivate: Deactivate;
}

export function createReceiver(o: ReceiverOptions): ReceiverRoutes {
  const verifier = new SetVerifier(o.issuers);
  const log = o.log.child({ component: "ssf-receiver" });
  const requireToken = o.auth.require("ssf", "admin");
  const refuse = (res: Response, status: number, err: SetErrorCode, description: string) => {
    res.status(status).set("Cache-Control", "no-store").json({ err, description });
  };

  // The bearer check answers in RFC 8935's shape rather than the admin API's.
  const authenticate: RequestHandler = (req, res, next) => {
    requireToken(req, res, (e?: unknown) => {
      if (!e) return next();
      if (e instanceof DomainError && e.status === 401) { res.set("WWW-Authenticate", 'Bearer realm="ssf"'); return refuse(res, 401, "authentication_failed", e.message); }
      if (e instanceof DomainError && e.status === 403) return refuse(res, 403, "access_denied", e.message);
      next(e);
    });
  };

  const receive = async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (!req.is("application/secevent+jwt") && !req.is("application/jwt"))
        return refuse(res, 400, "invalid_request", "the SET must be sent as application/secevent+jwt (RFC 8935 §2)");
      const jws = typeof req.body === "string" ? req.body.trim() : "";
      if (!jws) return refuse(res, 400, "invalid_request", "the body must be the SET as a compact JWS");
      const set = await verifier.verify(jws);
      const p = req.user as Principal;
      const requestId = String((req as any).id ?? `ssf:${set.payload.jti}`);
      const out = await receiveSet({ pool: o.pool, clock: o.clock, log, deactivate: o.deactivate }, set, { tokenId: p.tokenId, name: p.name }, requestId);
      if (out.replay) log.info({ code: "SSF_SET_REPLAYED", iss: set.issuer.issuer, jti: set.payload.jti }, "SET already received: accepted, not applied again");
      res.status(202).end();
    } catch (e) {
      if (e instanceof SetRejected) {
        log.warn({ code: "SSF_SET_REJECTED", err: e.err }, `SET refused: ${e.description}`);
        return refuse(res, e.status, e.err, e.description);
      }
      if (e instanceof JwksUnavailable) {
        log.warn({ code: "SSF_JWKS_UNAVAILABLE" }, e.message);
        res.status(503).set("Retry-After", "30").json({ err: "temporarily_unavailable", description: e.message });
        return;
      }
      next(e);
    }
  };
  return { handler: [authenticate, (req, res, next) => { void receive(req, res, next); }] };
}
