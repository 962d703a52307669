// Signs a SET (RFC 8417 §2.3): a JWS in compact form with `typ: secevent+jwt`, the active key's kid, and
// the claims as set-builder.ts made them (no `exp`, no `sub`: SSF 1.0 §4.1).
import { SignJWT, type JWTPayload } from "jose";
import type { SigningKeys } from "./keys.ts";

export async function signSet(keys: SigningKeys, claims: Record<string, unknown>): Promise<string> {
  const k = await keys.current();
  return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "secevent+jwt" }).sign(k.key);
}
