// OAuth2 access tokens shared by every broker process and kept across restarts, encrypted at rest
// (secret-box.ts): a token endpoint is asked once per token lifetime per app, not once per process and
// restart (several SaaS token endpoints rate-limit hard). The associated data binds a token to the app and
// its client id and token URL: new credentials never see an old token. A token the app rejected (401) is
// never served from here again (client/app-auth.ts skips the invalidated value).
import type pg from "pg";
import type { AppConfig } from "../../domain/app-config.ts";
import type { TokenCache } from "../client/app-auth.ts";
import type { SecretBox } from "./secret-box.ts";
import * as tokens from "./token-cache-repository.ts";
import { resolveReferences } from "../../rules/env-substitution.ts";

export class TokenVault {
  #box: Promise<SecretBox> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly loadBox: () => Promise<SecretBox>,
    /** The server's environment: the client id may be a `${VAR}` reference. */
    private readonly env: Readonly<Record<string, string | undefined>> = {},
  ) {}

  /** The cache for one app's OAuth2 credentials (undefined for bearer/basic: nothing to share). */
  cacheFor(config: AppConfig): TokenCache | undefined {
    if (config.auth.type !== "oauth2") return undefined;
    // Bound to the client id's value, not its reference: a rotated client never sees the old client's token.
    const clientId = resolveReferences(config.auth.clientId, this.env);
    if (clientId.missing.length) return undefined;
    const aad = `${config.name}\n${clientId.value}\n${config.auth.tokenUrl}`;
    const box = () => (this.#box ??= this.loadBox());
    return {
      load: async () => {
        const cached = await tokens.cachedToken(this.pool, config.name);
        if (!cached) return null;
        const value = (await box()).open(cached.sealed, aad);
        return value === null ? null : { value, expiresAt: cached.expiresAt.getTime() };
      },
      save: async (token) => {
        const sealed = (await box()).seal(token.value, aad);
        await tokens.saveToken(this.pool, config.name, sealed, new Date(token.expiresAt));
      },
    };
  }
}
