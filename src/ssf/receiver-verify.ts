// Verifying a SET pushed to the broker (RFC 8935 §2.2 and RFC 8417 §2): the issuer must be on the trust
// list (broker.yaml `ssf.receive.issuers`), the JWS signature must verify with a key from that issuer's
// JWKS, and `aud` must name this broker. jose does the JOSE work; nothing here parses a JWS by hand.
// Failures carry the RFC 8935 §2.4 error codes the transmitter expects.
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from "jose";
import type { SsfReceiveIssuer } from "../domain/ssf-stream-config.ts";

/** RFC 8935 §2.4 error codes (authentication_failed and access_denied answer the bearer check). */
export type SetErrorCode = "invalid_request" | "invalid_key" | "invalid_issuer" | "invalid_audience" | "authentication_failed" | "access_denied";

export class SetRejected extends Error {
  constructor(readonly err: SetErrorCode, readonly description: string, readonly status = 400) { super(description); }
}

/** The issuer's JWKS could not be read: not the transmitter's fault, so it should retry (a 5xx). */
export class JwksUnavailable extends Error {}

export interface VerifiedSet { issuer: SsfReceiveIssuer; payload: JWTPayload & { jti: string; events: Record<string, Record<string, unknown>> } }

export class SetVerifier {
  // One remote JWKS per URI: jose caches the keys and refetches on an unknown kid (with a cool-down).
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(private readonly issuers: () => readonly SsfReceiveIssuer[]) {}

  async verify(jws: string): Promise<VerifiedSet> {
    let claims: JWTPayload;
    try { claims = decodeJwt(jws); } catch { throw new SetRejected("invalid_request", "the body is not a compact JWS carrying a SET (RFC 8417 §2)"); }
    const issuer = this.issuers().find((i) => i.issuer === claims.iss);
    if (!issuer) throw new SetRejected("invalid_issuer", "the SET's issuer is not trusted by this recipient");
    let jwks = this.jwks.get(issuer.jwksUri);
    if (!jwks) { jwks = createRemoteJWKSet(new URL(issuer.jwksUri), { timeoutDuration: 5_000 }); this.jwks.set(issuer.jwksUri, jwks); }
    let payload: JWTPayload;
    try {
      // No `exp` check beyond jose's own: SSF SETs carry none (RFC 8417 §2.2 leaves it out). `typ` is not
      // required: RFC 8417 §2.3 only recommends secevent+jwt, and some transmitters omit it.
      ({ payload } = await jwtVerify(jws, jwks, { issuer: issuer.issuer, audience: issuer.audience }));
    } catch (e) { throw mapJoseError(e); }
    if (typeof payload.jti !== "string" || !payload.jti) throw new SetRejected("invalid_request", "the SET has no jti (RFC 8417 §2.2)");
    const events = payload.events;
    if (!events || typeof events !== "object" || Array.isArray(events) || !Object.keys(events).length
      || Object.values(events).some((v) => !v || typeof v !== "object" || Array.isArray(v)))
      throw new SetRejected("invalid_request", "the SET's events claim must be an object of event objects (RFC 8417 §2.2)");
    return { issuer, payload: payload as VerifiedSet["payload"] };
  }
}

function mapJoseError(e: unknown): Error {
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "aud") return new SetRejected("invalid_audience", "the SET's audience does not name this recipient");
    if (e.claim === "iss") return new SetRejected("invalid_issuer", "the SET's issuer is not trusted by this recipient");
    return new SetRejected("invalid_request", `the SET's ${e.claim} claim is not acceptable`);
  }
  if (e instanceof errors.JWTExpired) return new SetRejected("invalid_request", "the SET has expired");
  if (e instanceof errors.JWKSTimeout) return new JwksUnavailable("the issuer's JWKS did not answer in time");
  if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys
    || e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported)
    return new SetRejected("invalid_key", "the SET's signature does not verify with the issuer's published keys");
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return new SetRejected("invalid_request", "the body is not a valid signed SET");
  if (e instanceof errors.JWKSInvalid) return new JwksUnavailable("the issuer's JWKS is not a valid key set");
  // A fetch failure (connection refused, HTTP error status from the JWKS endpoint) reaches here.
  return new JwksUnavailable("the issuer's JWKS could not be read");
}
