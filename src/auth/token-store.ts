// API tokens: created once (the clear value is returned to the caller and never stored), kept as a
// SHA-256 hash, revocable, optionally bound to an HR source label that users created with it remember.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Prisma } from "../store/database.ts";
import { badRequest, conflict, notFound } from "../shared/errors.ts";

export const SCOPES = ["scim:read", "scim:write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenInfo { id: string; name: string; scopes: Scope[]; source: string | null; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null }

export const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex");
const newTokenValue = () => `scb_${randomBytes(32).toString("base64url")}`;

function checkScopes(scopes: string[]): Scope[] {
  const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (bad.length || !scopes.length) throw badRequest("invalidValue", `scopes must be among ${SCOPES.join(", ")} (got ${scopes.join(", ") || "none"})`);
  return [...new Set(scopes)] as Scope[];
}
const toInfo = (t: any): TokenInfo => ({ id: t.id, name: t.name, scopes: t.scopes, source: t.source, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt, revokedAt: t.revokedAt });

export class TokenStore {
  constructor(private readonly prisma: Prisma) {}

  /** Creates a token and returns its clear value (shown once). */
  async create(input: { name: string; scopes: string[]; source?: string | null; value?: string }): Promise<{ token: string; info: TokenInfo }> {
    const scopes = checkScopes(input.scopes);
    const token = input.value ?? newTokenValue();
    try {
      const t = await this.prisma.apiToken.create({ data: { name: input.name, scopes, source: input.source ?? null, tokenHash: hashToken(token) } });
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

  async revoke(name: string): Promise<void> {
    const r = await this.prisma.apiToken.updateMany({ where: { name, revokedAt: null }, data: { revokedAt: new Date() } });
    if (r.count === 0) throw notFound(`active token '${name}'`);
  }

  /** Resolves a presented token to its (unrevoked) record, or null. */
  async verify(presented: string): Promise<TokenInfo | null> {
    const tokenHash = hashToken(presented);
    const t = await this.prisma.apiToken.findUnique({ where: { tokenHash } });
    // The look-up is by hash (a preimage-resistant index key); compare the stored hash in constant time
    // anyway so no code path compares secrets with an early-exit string comparison.
    if (!t || t.revokedAt || !timingSafeEqual(Buffer.from(t.tokenHash, "hex"), Buffer.from(tokenHash, "hex"))) return null;
    return toInfo(t);
  }
}
