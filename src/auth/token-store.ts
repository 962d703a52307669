// API tokens: created once (the clear value is returned to the caller and never stored), kept as a
// SHA-256 hash, revocable, optionally bound to an HR source label that users created with it remember, and
// optionally carrying their own request rate limit.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type pg from "pg";
import type { Prisma } from "../store/database.ts";
import { badRequest, conflict, notFound } from "../shared/errors.ts";

// ssf: an OpenID Shared Signals receiver managing its own streams (src/ssf, docs/ssf.md)
export const SCOPES = ["scim:read", "scim:write", "admin", "ssf"] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenInfo {
  id: string; name: string; scopes: Scope[]; source: string | null; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null;
  /** requests per second for this token; null: the broker's default (BROKER_TOKEN_RATE_LIMIT); 0: unlimited */
  rateLimit: number | null;
}

export const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");
const newTokenValue = () => `scb_${randomBytes(32).toString("base64url")}`;

function checkScopes(scopes: unknown): Scope[] {
  const list = Array.isArray(scopes) ? scopes.map(String) : [];
  const bad = list.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (bad.length || !list.length) throw badRequest("invalidValue", `scopes must be among ${SCOPES.join(", ")} (got ${list.join(", ") || "none"})`);
  return [...new Set(list)] as Scope[];
}

/** A token's rate: a whole number of requests per second ≥ 1, "off"/0 for unlimited, absent for the default. */
export function parseRateLimit(v: unknown): number | null {
  if (v === undefined || v === null || v === "") return null;
  if (v === "off" || v === 0 || v === "0") return 0;
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 1_000_000) throw badRequest("invalidValue", `rate must be a whole number of requests per second from 1 to 1000000, or "off" (got ${JSON.stringify(v)})`);
  return n;
}

const toInfo = (t: any): TokenInfo => ({
  id: t.id, name: t.name, scopes: t.scopes, source: t.source, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt, revokedAt: t.revokedAt,
  rateLimit: t.rateLimit ?? null,
});

export class TokenStore {
  /** `pool`: the request path's token look-up runs on it as one raw indexed query (Prisma costs ~3× as much). */
  constructor(private readonly prisma: Prisma, private readonly pool?: pg.Pool) {}

  /** Creates a token and returns its clear value (shown once). */
  async create(input: { name: string; scopes: unknown; source?: string | null; value?: string; rateLimit?: number | null }): Promise<{ token: string; info: TokenInfo }> {
    if (typeof input.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$/.test(input.name))
      throw badRequest("invalidValue", "name must be 1–100 letters, digits or . _ : @ - (starting with a letter or digit)");
    const scopes = checkScopes(input.scopes);
    if (input.source !== undefined && input.source !== null && (typeof input.source !== "string" || input.source.length > 200))
      throw badRequest("invalidValue", "source must be a string of at most 200 characters");
    const token = input.value ?? newTokenValue();
    try {
      const t = await this.prisma.apiToken.create({ data: { name: input.name, scopes, source: input.source ?? null, tokenHash: hashToken(token), rateLimit: input.rateLimit ?? null } });
      return { token, info: toInfo(t) };
    } catch (e: any) {
      if (e?.code === "P2002") throw conflict(`a token named '${input.name}' already exists`);
      throw e;
    }
  }

  /** Makes sure a token with exactly this value exists (BROKER_BOOTSTRAP_TOKEN) with admin + SCIM scopes. */
  async ensureBootstrap(value: string): Promise<void> {
    const tokenHash = hashToken(value);
    const existing = await this.prisma.apiToken.findUnique({ where: { tokenHash } });
    if (existing && !existing.revokedAt) return;
    if (existing) { await this.prisma.apiToken.update({ where: { id: existing.id }, data: { revokedAt: null } }); return; }
    await this.prisma.apiToken.deleteMany({ where: { name: "bootstrap" } });
    await this.prisma.apiToken.create({ data: { name: "bootstrap", scopes: [...SCOPES], tokenHash } });
  }

  async list(): Promise<TokenInfo[]> {
    return (await this.prisma.apiToken.findMany({ orderBy: { createdAt: "asc" } })).map(toInfo);
  }

  /**
   * Revokes a token. Effective in every broker process when this returns: each request reads its token's
   * row (verify), so there is no cache to invalidate.
   */
  async revoke(name: string): Promise<TokenInfo> {
    try {
      // One statement: the update returns the revoked row; P2025: no unrevoked token of that name.
      return toInfo(await this.prisma.apiToken.update({ where: { name, revokedAt: null }, data: { revokedAt: new Date() } }));
    } catch (e: any) {
      if (e?.code === "P2025") throw notFound(`active token '${name}'`);
      throw e;
    }
  }

  /** Resolves a presented token to its (unrevoked) record, or null. One indexed read, on every request. */
  async verify(presented: string): Promise<TokenInfo | null> {
    const tokenHash = hashToken(presented);
    let t: any;
    if (this.pool) {
      const { rows } = await this.pool.query({
        name: "auth_verify_token",
        text: `SELECT id, name, scopes, source, token_hash, created_at, last_used_at, revoked_at, rate_limit FROM api_token WHERE token_hash = $1`,
        values: [tokenHash],
      });
      const r = rows[0];
      t = r && { id: r.id, name: r.name, scopes: r.scopes, source: r.source, tokenHash: r.token_hash, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at, rateLimit: r.rate_limit };
    } else t = await this.prisma.apiToken.findUnique({ where: { tokenHash } });
    // The look-up is by hash (a preimage-resistant index key); compare the stored hash in constant time
    // anyway so no code path compares secrets with an early-exit string comparison.
    if (!t || t.revokedAt || !timingSafeEqual(Buffer.from(t.tokenHash, "hex"), Buffer.from(tokenHash, "hex"))) return null;
    return toInfo(t);
  }
}
