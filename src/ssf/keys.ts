// The transmitter's signing keys. ES256 (P-256): compact signatures, and every JOSE library verifies them.
// Generated on first start (never hand-rolled: jose generates, exports and signs); the private JWK is sealed
// at rest (sealer.ts) bound to its kid. The kid is the key's JWK thumbprint (RFC 7638). Rotation retires the
// active key and makes a new one; a retired key's public half stays in the JWKS for `retention` (the SET
// time-to-live: a receiver may still be verifying or polling SETs it signed).
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import type { Clock } from "../domain/clock.ts";
import type { Sealer } from "./sealer.ts";
import * as repo from "./key-repository.ts";

export const SIGNING_ALG = "ES256";

export interface SigningKey { kid: string; alg: string; key: CryptoKey }

export class SigningKeys {
  /** kid → imported private key (a key never changes once created) */
  readonly #cache = new Map<string, Promise<CryptoKey>>();

  constructor(private readonly pool: pg.Pool, private readonly sealer: Sealer, private readonly clock: Clock, private readonly retentionMs: number) {}

  /** Makes sure an active key exists (first start). Idempotent across processes. */
  async ensure(): Promise<string> {
    const current = await repo.activeKey(this.pool);
    if (current) return current.kid;
    return withTransaction(this.pool, async (tx) => {
      await repo.lockKeys(tx);
      const again = await repo.activeKey(tx);
      return again ? again.kid : this.#create(tx);
    });
  }

  /** Retires the active key (its public half stays published for the retention) and creates a new one. */
  async rotate(): Promise<string> {
    return withTransaction(this.pool, async (tx) => {
      await repo.lockKeys(tx);
      await repo.retireActive(tx, this.clock.now());
      return this.#create(tx);
    });
  }

  /** The key that signs now. */
  async current(): Promise<SigningKey> {
    const row = (await repo.activeKey(this.pool)) ?? (await repo.keyById(this.pool, await this.ensure()));
    if (!row) throw new Error("no SSF signing key");
    let key = this.#cache.get(row.kid);
    if (!key) {
      key = this.#open(row);
      this.#cache.set(row.kid, key);
      key.catch(() => this.#cache.delete(row.kid));
    }
    return { kid: row.kid, alg: row.alg, key: await key };
  }

  /** The JWKS (RFC 7517 §5): public keys only, the active one first. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const rows = await repo.publishedKeys(this.pool, new Date(this.clock.now().getTime() - this.retentionMs));
    return { keys: rows.map((r) => ({ ...(r.publicJwk as JWK), kid: r.kid, alg: r.alg, use: "sig" })) };
  }

  async #create(tx: pg.PoolClient): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateSealed = await this.sealer.seal(JSON.stringify(await exportJWK(privateKey)), aadFor(kid));
    await repo.insertKey(tx, { kid, alg: SIGNING_ALG, publicJwk: publicJwk as Record<string, unknown>, privateSealed, createdAt: this.clock.now() });
    return kid;
  }

  async #open(row: repo.KeyRow): Promise<CryptoKey> {
    const jwk = await this.sealer.open(row.privateSealed, aadFor(row.kid));
    // Another secret key than the one that sealed it: the operator must restore BROKER_SECRET_KEY or rotate.
    if (jwk === null) throw new Error(`SSF signing key ${row.kid} cannot be opened with this broker's secret key (SSF_KEY_SEALED_ELSEWHERE)`);
    return (await importJWK(JSON.parse(jwk) as JWK, row.alg)) as CryptoKey;
  }
}

const aadFor = (kid: string) => `ssf-signing-key\n${kid}`;
