// Authorization header for one app: bearer (RFC 6750 §2.1), basic (RFC 7617) or an OAuth2 access token from
// the client-credentials grant (RFC 6749 §4.4), cached until shortly before it expires and fetched once for
// all concurrent requests. After a 401 the client calls invalidate() and retries once with a fresh token.
//
// Credentials in the policy are usually `${VAR}` references (src/rules/env-substitution.ts): they are
// resolved here, at the point of use, from the server's environment handed over by the config module, and
// nowhere else — so no other part of the broker ever holds a secret from the environment. An unset variable
// is an authentication failure of the app (FANOUT_CREDENTIAL_MISSING, naming the variable only).
import type { Dispatcher } from "undici";
import type { AppAuth } from "../../domain/app-config.ts";
import { AppHttpError } from "./app-http-error.ts";
import { resolveReferences } from "../../rules/env-substitution.ts";
import { send, TransportError } from "./http-transport.ts";
import { systemClock, type Clock } from "../../domain/clock.ts";

export interface AuthProvider {
  /** Authorization header value for the next request. */
  header(signal?: AbortSignal): Promise<string>;
  /** The app answered 401. True when a retry with a new credential can help (OAuth2 only). */
  invalidate(): boolean;
  /** Current secret values, for scrubbing error bodies. */
  secrets(): string[];
}

export interface AuthDeps {
  app: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  clock?: Clock;
  /** OAuth2: tokens shared with other processes (token-vault.ts); wall-clock expiry in ms since the epoch. */
  tokenCache?: TokenCache;
  /** The server's environment, for `${VAR}` references in credentials. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Resolves a credential's references (a literal value is returned as is); throws FANOUT_CREDENTIAL_MISSING. */
export function resolveCredential(value: string, deps: Pick<AuthDeps, "app" | "env">): string {
  if (!value.includes("${")) return value;
  const { value: resolved, missing } = resolveReferences(value, deps.env ?? {});
  if (missing.length === 0) return resolved;
  throw new AppHttpError({
    app: deps.app, method: "AUTH", path: "-", code: "FANOUT_CREDENTIAL_MISSING",
    detail: `credential ${missing.map((n) => `\${${n}}`).join(", ")} is not set in the broker's environment`,
  });
}

/** Where an OAuth2 token can be found before asking the token endpoint, and stored after. Failures are ignored. */
export interface TokenCache {
  load(): Promise<{ value: string; expiresAt: number } | null>;
  save(token: { value: string; expiresAt: number }): Promise<void>;
}

/** Tokens without expires_in (it is only RECOMMENDED, RFC 6749 §5.1) are kept this long. */
const DEFAULT_TOKEN_LIFETIME_S = 300;

/** The `${VAR}`s of an app's credentials that the environment does not set (names only; for a start-up check). */
export function missingCredentials(auth: AppAuth, env: Readonly<Record<string, string | undefined>>): string[] {
  const fields = auth.type === "bearer" ? [auth.token] : auth.type === "basic" ? [auth.username, auth.password] : [auth.clientId, auth.clientSecret];
  return [...new Set(fields.flatMap((f) => resolveReferences(f, env).missing))];
}

export function createAuthProvider(auth: AppAuth, deps: AuthDeps): AuthProvider {
  if (auth.type === "bearer") {
    let token: string | undefined;
    return {
      header: async () => `Bearer ${(token ??= resolveCredential(auth.token, deps))}`,
      invalidate: () => false,
      secrets: () => (token ? [token] : []),
    };
  }
  if (auth.type === "basic") {
    let resolved: { password: string; encoded: string } | undefined;
    const resolve = () => {
      const password = resolveCredential(auth.password, deps);
      return { password, encoded: Buffer.from(`${resolveCredential(auth.username, deps)}:${password}`).toString("base64") };
    };
    return {
      header: async () => `Basic ${(resolved ??= resolve()).encoded}`,
      invalidate: () => false,
      secrets: () => (resolved ? [resolved.password, resolved.encoded] : []),
    };
  }
  return new OAuth2ClientCredentials(auth, deps);
}

type OAuth2Auth = Extract<AppAuth, { type: "oauth2" }>;

class OAuth2ClientCredentials implements AuthProvider {
  #token: { value: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;
  #rejected: string | undefined;
  readonly #clock: Clock;
  #client: { secret: string; basic: string } | undefined;

  constructor(
    private readonly auth: OAuth2Auth,
    private readonly deps: AuthDeps,
  ) {
    this.#clock = deps.clock ?? systemClock;
  }

  /** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
  #credentials(): { secret: string; basic: string } {
    if (this.#client) return this.#client;
    const id = resolveCredential(this.auth.clientId, this.deps);
    const secret = resolveCredential(this.auth.clientSecret, this.deps);
    return (this.#client = { secret, basic: Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64") });
  }

  async header(signal?: AbortSignal): Promise<string> {
    const token = this.#token;
    if (token && this.#clock.monotonic() < token.refreshAt) return `Bearer ${token.value}`;
    this.#pending ??= this.#fetch(signal).finally(() => (this.#pending = undefined));
    return `Bearer ${await this.#pending}`;
  }

  invalidate(): boolean {
    // The app refused this token: never take it from the shared cache again.
    this.#rejected = this.#token?.value;
    this.#token = undefined;
    return true;
  }

  secrets(): string[] {
    return [...(this.#client ? [this.#client.secret, this.#client.basic] : []), ...(this.#token ? [this.#token.value] : [])];
  }

  async #fetch(signal?: AbortSignal): Promise<string> {
    const { basic } = this.#credentials();
    const cached = await this.deps.tokenCache?.load().catch(() => null);
    if (cached && cached.value !== this.#rejected) {
      const leftMs = cached.expiresAt - this.#clock.now().getTime();
      const skewMs = Math.min(60_000, leftMs / 10);
      if (leftMs - skewMs > 1000) {
        this.#token = { value: cached.value, refreshAt: this.#clock.monotonic() + leftMs - skewMs };
        return cached.value;
      }
    }
    const url = new URL(this.auth.tokenUrl);
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (this.auth.scope) form.set("scope", this.auth.scope);
    const started = this.#clock.monotonic();
    const fail = (init: { status?: number; body?: string; detail?: string; cause?: unknown }) =>
      new AppHttpError({ app: this.deps.app, method: "POST", path: url.pathname, code: "FANOUT_AUTH_TOKEN", secrets: this.secrets(), ...init });
    let res;
    try {
      res = await send(this.deps.dispatcher, {
        origin: url.origin,
        path: url.pathname + url.search,
        method: "POST",
        headers: {
          authorization: `Basic ${basic}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: form.toString(),
        timeoutMs: this.deps.timeoutMs,
        signal,
      });
    } catch (e) {
      throw fail({ detail: e instanceof TransportError ? `token endpoint ${e.kind}` : "token endpoint failed", cause: e });
    }
    if (res.status < 200 || res.status >= 300) throw fail({ status: res.status, body: res.text });
    let json: { access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(res.text);
    } catch {
      throw fail({ status: res.status, detail: "token response is not JSON" });
    }
    if (typeof json.access_token !== "string" || json.access_token === "") throw fail({ status: res.status, detail: "no access_token" });
    const lifetimeS = Number(json.expires_in) > 0 ? Number(json.expires_in) : DEFAULT_TOKEN_LIFETIME_S;
    // Refresh a little early (10 % of the lifetime, at most 60 s) so a token never expires in flight.
    const skewMs = Math.min(60_000, lifetimeS * 100);
    this.#token = { value: json.access_token, refreshAt: started + lifetimeS * 1000 - skewMs };
    await this.deps.tokenCache?.save({ value: json.access_token, expiresAt: this.#clock.now().getTime() + lifetimeS * 1000 }).catch(() => {});
    return json.access_token;
  }
}
