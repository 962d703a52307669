// API tokens: created once (the clear value is returned to the caller and never stored), kept as a
// SHA-256 hash, revocable, optionally bound to an HR source label that users created with it remember, and
// optionally carrying their own request rate limit.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type pg from "pg";
import type { Prisma } from "../store/database.ts";
import type { NotificationListener } from "../store/notification-listener.ts";
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

/** The migration's trigger on api_token notifies this channel with the row's id on every insert, update, delete. */
export const TOKEN_CHANNEL = "api_token_changed";
const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 5 * 60_000;

export class TokenStore {
  /** token hash → the token as last read, while the cache is live */
  private readonly cache = new Map<string, { info: TokenInfo; until: number }>();
  /** the cache is used only while LISTEN is in effect: a broken connection may have missed a revocation */
  private live = false;
  /** bumped by every invalidation: a read that raced one is not cached */
  private generation = 0;
  private readonly changeListeners = new Set<(tokenId: string) => void>();
  private readonly liveWaiters: Array<() => void> = [];
  private readonly stateListeners = new Set<(live: boolean) => void>();

  /**
   * `pool`: the request path's token look-up runs on it as one raw indexed query (Prisma costs ~3× as much).
   * `notifications`: with it, verified tokens are kept in memory and dropped the moment PostgreSQL says
   * their row changed (revoked, re-enabled, deleted, rate changed) — in this process or any other; without
   * it (the CLI), every verify reads the row.
   */
  constructor(private readonly prisma: Prisma, private readonly pool?: pg.Pool, notifications?: NotificationListener) {
    notifications?.subscribe(TOKEN_CHANNEL, {
      message: (tokenId) => this.invalidate(tokenId),
      lost: () => { this.live = false; this.invalidate(null); for (const fn of [...this.stateListeners]) fn(false); },
      ready: () => { this.invalidate(null); this.live = true; for (const w of this.liveWaiters.splice(0)) w(); for (const fn of [...this.stateListeners]) fn(true); },
    });
  }

  /** Calls `fn(false)` when the cache stops (its listening connection broke) and `fn(true)` when it is live again. */
  onCacheState(fn: (live: boolean) => void): () => void {
    this.stateListeners.add(fn);
    return () => { this.stateListeners.delete(fn); };
  }

  /** Calls `fn` with the id of each token whose row changed, after its cached entry is gone (tests wait on it). */
  onChange(fn: (tokenId: string) => void): () => void {
    this.changeListeners.add(fn);
    return () => { this.changeListeners.delete(fn); };
  }

  /** Resolves once the cache is live (LISTEN in effect); at once when it is, or when there is no cache. */
  whenCaching(): Promise<void> {
    return this.live ? Promise.resolve() : new Promise((resolve) => this.liveWaiters.push(resolve));
  }

  /** Whether this token is served from memory now (no read per request). */
  isCached(presented: string): boolean {
    return this.live && this.cache.has(hashToken(presented));
  }

  /** Drops one token's entry (by id), or all of them (null). */
  private invalidate(tokenId: string | null): void {
    this.generation++;
    if (tokenId === null) this.cache.clear();
    else for (const [hash, e] of this.cache) if (e.info.id === tokenId) this.cache.delete(hash);
    if (tokenId !== null) for (const fn of [...this.changeListeners]) fn(tokenId);
  }

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
   * Revokes a token. Effective in this process when this returns; in every other broker process as soon as
   * PostgreSQL's notification of the commit reaches it (the trigger on api_token, see TOKEN_CHANNEL) — the
   * same moment it would see the row's new state — and at once everywhere if their listening connection is
   * down (no cache then).
   */
  async revoke(name: string): Promise<TokenInfo> {
    try {
      // One statement: the update returns the revoked row; P2025: no unrevoked token of that name.
      const info = toInfo(await this.prisma.apiToken.update({ where: { name, revokedAt: null }, data: { revokedAt: new Date() } }));
      this.invalidate(info.id); // this process: at once, without waiting for its own notification
      return info;
    } catch (e: any) {
      if (e?.code === "P2025") throw notFound(`active token '${name}'`);
      throw e;
    }
  }

  /**
   * Resolves a presented token to its (unrevoked) record, or null: from the cache while it is live, else one
   * indexed read. Unknown and revoked tokens are never cached (each such request reads the row).
   */
  async verify(presented: string): Promise<TokenInfo | null> {
    const tokenHash = hashToken(presented);
    // Keyed by the hash, like the index: a preimage-resistant key, so an exact-match look-up reveals nothing.
    const hit = this.live ? this.cache.get(tokenHash) : undefined;
    if (hit && hit.until > Date.now()) return hit.info;
    const generation = this.generation;
    const info = await this.read(tokenHash);
    // Cached only if no notification arrived while the row was read: a revocation that committed after
    // this read's snapshot notifies after it, and would otherwise be overwritten by the stale row.
    if (info && this.live && generation === this.generation) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(tokenHash, { info, until: Date.now() + CACHE_TTL_MS });
    }
    return info;
  }

  private async read(tokenHash: string): Promise<TokenInfo | null> {
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
