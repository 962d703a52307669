// Signs a SET (RFC 8417 §2.3): a JWS in compact form with `typ: secevent+jwt`, the active key's kid, and
// the claims as set-builder.ts made them (no `exp`, no `sub`: SSF 1.0 §4.1).
import { SignJWT, type JWTPayload } from "jose";
import type { SigningKey, SigningKeys } from "./keys.ts";

export async function signSet(keys: SigningKeys, claims: Record<string, unknown>): Promise<string> {
  return signSetWith(await keys.current(), claims);
}

/** With a key the caller already holds (the push task signs a stream's batch with one key). */
export function signSetWith(k: SigningKey, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: "secevent+jwt" }).sign(k.key);
}

/**
 * The signing key for a run that read the active kid in its own statement: the key held from an earlier
 * run while its kid is still the active one, else the keys' current one (after a rotation, or the first
 * time). Saves a read of ssf_key per SET without ever signing with a retired key the database no longer
 * names active.
 */
export function keyHolder(keys: SigningKeys): (activeKid: string | null) => Promise<SigningKey> {
  let held: SigningKey | undefined;
  return async (activeKid) => {
    if (held && held.kid === activeKid) return held;
    held = await keys.current();
    return held;
  };
}
