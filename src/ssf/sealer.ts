// Secrets of the SSF layer at rest (signing keys' private JWKs, push endpoints' Authorization headers),
// sealed exactly like the fan-out's secrets: the broker's one SecretBox key (BROKER_SECRET_KEY, else
// <BROKER_DATA_DIR>/secret.key), AES-256-GCM with associated data naming what a value belongs to. The only
// module of src/ssf that knows where SecretBox lives.
import { SecretBox } from "../fanout/apps/secret-box.ts";

export interface Sealer {
  seal(plaintext: string, aad: string): Promise<string>;
  /** The plaintext, or null when sealed under another key or for other associated data. */
  open(sealed: string, aad: string): Promise<string | null>;
}

/** The key is loaded (or generated into the data directory) on first use, once. */
export function createSealer(secrets: { secretKey?: string; dataDir: string }): Sealer {
  let box: Promise<SecretBox> | undefined;
  const get = () => (box ??= SecretBox.load(secrets));
  return {
    seal: async (plaintext, aad) => (await get()).seal(plaintext, aad),
    open: async (sealed, aad) => (await get()).open(sealed, aad),
  };
}
