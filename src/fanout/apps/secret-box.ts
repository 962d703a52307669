// Encryption at rest for the secrets the fan-out stores (today: OAuth2 access tokens shared by broker
// processes, token-vault.ts). AES-256-GCM (NIST SP 800-38D): a random 96-bit nonce per value, the 128-bit
// tag, and associated data binding a ciphertext to what it belongs to (app + credentials), so a value
// copied to another row does not decrypt.
//
// The key: BROKER_SECRET_KEY (64 hex characters or base64 of 32 bytes; anything else is stretched with
// scrypt), else a key generated on first use into <BROKER_DATA_DIR>/secret.key (mode 0600) — what the
// embedded default does. Sealed values carry the key's id, so a changed key reads as "absent", not garbage.
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const VERSION = "v1";

export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError("AES-256 needs a 32-byte key");
    this.keyId = createHash("sha256").update(key).digest("hex").slice(0, 8);
  }

  /** The configured key, or the data directory's generated one (created with mode 0600 if missing). */
  static async load(opts: { secretKey?: string; dataDir: string }): Promise<SecretBox> {
    if (opts.secretKey) return new SecretBox(parseKey(opts.secretKey));
    const file = join(opts.dataDir, "secret.key");
    try {
      return new SecretBox(parseKey((await readFile(file, "utf8")).trim()));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    await mkdir(opts.dataDir, { recursive: true });
    const key = randomBytes(32);
    try {
      await writeFile(file, key.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
      return new SecretBox(key);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      return new SecretBox(parseKey((await readFile(file, "utf8")).trim())); // another process won the race
    }
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return `${VERSION}.${this.keyId}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
  }

  /** The plaintext, or null when sealed under another key or for other associated data (or tampered with). */
  open(sealed: string, aad: string): string | null {
    const [version, keyId, data] = sealed.split(".");
    if (version !== VERSION || keyId !== this.keyId || !data) return null;
    const raw = Buffer.from(data, "base64");
    if (raw.length < 28) return null;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    } catch {
      return null;
    }
  }
}

function parseKey(text: string): Buffer {
  if (/^[0-9a-f]{64}$/i.test(text)) return Buffer.from(text, "hex");
  const b64 = /^[A-Za-z0-9+/]{43}=?$/.test(text) ? Buffer.from(text, "base64") : null;
  if (b64?.length === 32) return b64;
  // A passphrase: stretched, so a short one is not a short key.
  return scryptSync(text, "scim-broker secret key", 32);
}
