// Outbound SCIM client for one downstream app (RFC 7644 as a *client*). A method returns plain JSON or throws
// AppHttpError after a bounded number of exchanges: one request; a read then a write (PUT-only apps); member
// changes in chunks (patchGroupMembers); list pages until the last (iterateUsers/iterateGroups, §3.4.2.4);
// and the one re-send a 401 earns with a refreshed OAuth2 token. A failure is never retried here — that is
// the durable queue's job (delivery/backoff.ts) — and nothing sleeps except waiting for a rate-limit permit.
//
// Tolerances for real apps (docs/scim-clients.md "Downstream apps"): ids are opaque strings (URL-encoded in paths,
// never parsed); 200-with-body and 204 both count as success for PATCH/PUT/DELETE (RFC 7644 §3.5.2 allows
// either); PUT-only apps get a read-modify-PUT (§3.5.1); lookups re-check the match client-side because
// some apps ignore `filter` and return everyone.
import type { Dispatcher } from "undici";
import type { AppConfig } from "../../domain/app-config.ts";
import { AppHttpError, codeForStatus, parseRetryAfter } from "./app-http-error.ts";
import { createAuthProvider, type AuthProvider, type TokenCache } from "./app-auth.ts";
import { encodeBooleans, parseServiceProviderConfig, patchBody, resolveDialect, type AppCapabilities, type Dialect, type AppPatchOperation } from "../../domain/app-dialect.ts";
import { createAgent, send, TransportError } from "./http-transport.ts";
import { getCI, parsePath, resolvePath } from "../../domain/mapping-expression.ts";
import { compileUserMapping, type ScimResource, type UserMapper } from "../../domain/app-mapping.ts";
import { ownedPrefixes } from "./owned-attributes.ts";
import { RateLimiter } from "./rate-limiter.ts";
import { systemClock, type Clock } from "../../domain/clock.ts";

export type { ScimResource } from "../../domain/app-mapping.ts";
export type { AppPatchOperation } from "../../domain/app-dialect.ts";
export { AppHttpError } from "./app-http-error.ts";

export type ScimResourceWithId = ScimResource & { id: string };
export interface ScimPage {
  resources: ScimResourceWithId[];
  /** null when the app omitted it (RFC 7644 §3.4.2 makes it REQUIRED; not every app agrees). */
  totalResults: number | null;
  startIndex: number;
  itemsPerPage: number;
}
export interface ResponseEvent {
  app: string;
  method: string;
  /** Path without query string. */
  path: string;
  status: number | undefined;
  durationMs: number;
}
export interface ScimClientOptions {
  /** Share one Agent across apps; the client then does not close it. Default: its own keep-alive Agent. */
  dispatcher?: Dispatcher;
  /** Default: built from config.rateLimit, else one that only enforces Retry-After pauses; null: none. */
  limiter?: RateLimiter | null;
  clock?: Clock;
  /** Capabilities from an earlier discover(), e.g. cached in the database. */
  capabilities?: AppCapabilities | null;
  /** Member values per group PATCH request; large groups are split (RFC 7644 §3.5.2 has no size limit, apps do). */
  memberChunkSize?: number;
  /** Metrics/trace hook; receives no headers or bodies. */
  onResponse?: (event: ResponseEvent) => void;
  /** OAuth2 apps: tokens shared across processes and restarts (token-vault.ts). */
  tokenCache?: TokenCache;
  /** The server's environment: credentials' `${VAR}` references are resolved from it when used (auth.ts). */
  env?: Readonly<Record<string, string | undefined>>;
}
type Kind = "Users" | "Groups";
type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
interface RequestSpec {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  signal?: AbortSignal;
}

const SCIM_JSON = "application/scim+json";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
/** Attributes a PUT must not echo back: readOnly per RFC 7643 §4.1/§4.2 (meta, groups). */
const READ_ONLY = new Set(["meta", "groups"]);
const UNLIMITED = { perSecond: Number.POSITIVE_INFINITY, concurrency: 1024 };

export function createScimClient(config: AppConfig, options: ScimClientOptions = {}): ScimClient {
  return new ScimClient(config, options);
}

export class ScimClient {
  readonly app: string;
  readonly #config: AppConfig;
  readonly #origin: string;
  readonly #base: string;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #limiter: RateLimiter | null;
  readonly #auth: AuthProvider;
  readonly #clock: Clock;
  readonly #options: ScimClientOptions;
  #capabilities: AppCapabilities | null;
  #dialect: Dialect;
  #mapper: UserMapper;

  constructor(config: AppConfig, options: ScimClientOptions = {}) {
    const url = new URL(config.url);
    this.app = config.name;
    this.#config = config;
    this.#options = options;
    this.#origin = url.origin;
    this.#base = url.pathname.replace(/\/+$/, "");
    this.#clock = options.clock ?? systemClock;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? createAgent({ connections: config.rateLimit?.concurrency });
    // Without a configured rate the limiter still matters: a 429's Retry-After pauses all requests to the app.
    this.#limiter = options.limiter !== undefined ? options.limiter : new RateLimiter(config.rateLimit ?? UNLIMITED, this.#clock);
    this.#auth = createAuthProvider(config.auth, { app: config.name, dispatcher: this.#dispatcher, timeoutMs: config.timeoutMs, clock: this.#clock, tokenCache: options.tokenCache, env: options.env });
    this.#capabilities = options.capabilities ?? null;
    this.#dialect = resolveDialect(config.dialect, this.#capabilities);
    this.#mapper = compileUserMapping(config.mapping, this.#dialect);
  }

  get dialect(): Dialect {
    return { ...this.#dialect };
  }
  get capabilities(): AppCapabilities | null {
    return this.#capabilities;
  }
  /** For a job handler that would rather re-schedule than block a worker: limiter.tryAcquire().waitMs. */
  get limiter(): RateLimiter | null {
    return this.#limiter;
  }

  /** Reads /ServiceProviderConfig (RFC 7644 §4) and adopts what it says unless the config overrides it.
   * Apps without discovery (404/405/501) keep the configured/RFC defaults and yield null. */
  async discover(signal?: AbortSignal): Promise<AppCapabilities | null> {
    try {
      const doc = await this.#json("GET", `${this.#base}/ServiceProviderConfig`, { signal });
      this.#capabilities = parseServiceProviderConfig(doc);
    } catch (e) {
      if (e instanceof AppHttpError && (e.code === "FANOUT_NOT_FOUND" || e.code === "FANOUT_NOT_IMPLEMENTED")) return null;
      throw e;
    }
    this.#dialect = resolveDialect(this.#config.dialect, this.#capabilities);
    this.#mapper = compileUserMapping(this.#config.mapping, this.#dialect);
    return this.#capabilities;
  }

  /** The broker's User → this app's resource (mapping + dialect). */
  mapUser(brokerUser: ScimResource): ScimResource {
    return this.#mapper(brokerUser);
  }

  /** Attribute paths the mapping writes, lower-cased (owned-attributes.ts): what the broker owns in this app. */
  get ownedPaths(): readonly string[] {
    return ownedPrefixes(this.#mapper.targets);
  }

  // ---- Users (RFC 7644 §3.3 create, §3.4.1 get, §3.4.2 query, §3.5.1 PUT, §3.5.2 PATCH, §3.6 DELETE) ----
  findUserBy(attribute: string, value: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#findBy("Users", attribute, value, signal);
  }
  getUser(id: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#get("Users", id, signal);
  }
  createUser(resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId> {
    return this.#create("Users", resource, signal);
  }
  replaceUser(id: string, resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#replace("Users", id, resource, signal);
  }
  patchUser(id: string, ops: readonly AppPatchOperation[], signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#patch("Users", id, ops, signal);
  }
  /**
   * Pushes the mapped attributes: PATCH replace without path (§3.5.2.3) plus a `remove` (§3.5.2.2) per owned
   * attribute HR cleared (`remove`: paths, see owned-attributes.ts) — a replace alone would leave their old
   * values — or, PUT-only apps, the full resource (§3.5.1), which clears whatever it does not carry.
   */
  async updateUser(id: string, resource: ScimResource, signal?: AbortSignal, remove: readonly string[] = []): Promise<void> {
    if (!this.#dialect.patch) return void (await this.replaceUser(id, resource, signal));
    const { schemas: _s, id: _i, ...value } = resource;
    await this.patchUser(id, [{ op: "replace", value }, ...remove.map((path) => ({ op: "remove" as const, path }))], signal);
  }
  /** active=false (RFC 7643 §4.1.1). PUT-only apps get the app's current resource (or `current`) re-PUT. */
  async disableUser(id: string, current?: ScimResource, signal?: AbortSignal): Promise<void> {
    if (this.#dialect.patch) return void (await this.patchUser(id, [{ op: "replace", path: "active", value: false }], signal));
    const base = current ?? (await this.getUser(id, signal)) ?? this.#notFound("GET", "Users", id);
    await this.replaceUser(id, { ...base, active: false }, signal);
  }
  /** Idempotent: an account that is already gone is the desired state. */
  deleteUser(id: string, signal?: AbortSignal): Promise<"deleted" | "absent"> {
    return this.#delete("Users", id, signal);
  }
  listUsers(startIndex = 1, count = 100, filter?: string, signal?: AbortSignal): Promise<ScimPage> {
    return this.#list("Users", startIndex, count, filter, signal);
  }
  iterateUsers(options: { pageSize?: number; filter?: string; signal?: AbortSignal } = {}): AsyncGenerator<ScimResourceWithId> {
    return this.#iterate("Users", options);
  }

  // ---- Groups (RFC 7643 §4.2) ----
  findGroupBy(attribute: string, value: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#findBy("Groups", attribute, value, signal);
  }
  getGroup(id: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#get("Groups", id, signal);
  }
  createGroup(resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId> {
    return this.#create("Groups", { schemas: [GROUP_SCHEMA], ...resource }, signal);
  }
  replaceGroup(id: string, resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#replace("Groups", id, { schemas: [GROUP_SCHEMA], ...resource }, signal);
  }
  patchGroup(id: string, ops: readonly AppPatchOperation[], signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    return this.#patch("Groups", id, ops, signal);
  }
  /** Membership deltas (app member ids). PATCH add/remove (§3.5.2.1/§3.5.2.2) in chunks, so a 10k-member
   * group is never rewritten whole; PUT-only apps get read-modify-PUT of the member list. */
  async patchGroupMembers(id: string, add: readonly string[], remove: readonly string[], signal?: AbortSignal): Promise<void> {
    if (add.length === 0 && remove.length === 0) return;
    if (!this.#dialect.patch) {
      const group = (await this.getGroup(id, signal)) ?? this.#notFound("GET", "Groups", id);
      const drop = new Set(remove);
      const kept = asArray(getCI(group, "members")).filter((m) => !drop.has(String(getCI(m, "value"))));
      const have = new Set(kept.map((m) => String(getCI(m, "value"))));
      const members = [...kept, ...[...new Set(add)].filter((v) => !have.has(v)).map((value) => ({ value }))];
      await this.replaceGroup(id, { ...group, members }, signal);
      return;
    }
    const size = this.#options.memberChunkSize ?? 100;
    for (let i = 0; i < add.length; i += size) {
      const value = add.slice(i, i + size).map((v) => ({ value: v }));
      await this.patchGroup(id, [{ op: "add", path: "members", value }], signal);
    }
    for (let i = 0; i < remove.length; i += size) {
      const ops = remove.slice(i, i + size).map((v) => ({ op: "remove" as const, path: `members[value eq ${JSON.stringify(v)}]` }));
      await this.patchGroup(id, ops, signal);
    }
  }
  deleteGroup(id: string, signal?: AbortSignal): Promise<"deleted" | "absent"> {
    return this.#delete("Groups", id, signal);
  }
  listGroups(startIndex = 1, count = 100, filter?: string, signal?: AbortSignal): Promise<ScimPage> {
    return this.#list("Groups", startIndex, count, filter, signal);
  }
  iterateGroups(options: { pageSize?: number; filter?: string; signal?: AbortSignal } = {}): AsyncGenerator<ScimResourceWithId> {
    return this.#iterate("Groups", options);
  }

  /** Closes the keep-alive pool (only if the client created it). */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  // ---- resource-generic operations ----
  async #findBy(kind: Kind, attribute: string, value: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    // The value is a JSON string literal inside the filter (RFC 7644 §3.4.2.2), so JSON.stringify escapes it.
    const page = await this.#list(kind, 1, 2, `${attribute} eq ${JSON.stringify(value)}`, signal);
    const path = parsePath(attribute);
    const matches = page.resources.filter((r) => {
      const actual = resolvePath(r, path);
      return actual === undefined || String(actual).toLowerCase() === value.toLowerCase();
    });
    if (matches.length > 1)
      throw new AppHttpError({ app: this.app, method: "GET", path: this.#path(kind), code: "FANOUT_AMBIGUOUS_MATCH", detail: `${matches.length} ${kind} match ${attribute}` });
    return matches[0] ?? null;
  }

  async #get(kind: Kind, id: string, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    try {
      return withId(await this.#json("GET", this.#path(kind, id), { signal }), () => this.#badResponse("GET", kind, "no id"));
    } catch (e) {
      if (e instanceof AppHttpError && e.notFound) return null;
      throw e;
    }
  }

  async #create(kind: Kind, resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId> {
    const body = await this.#json("POST", this.#path(kind), { body: encodeBooleans(resource, this.#dialect), signal });
    // RFC 7644 §3.3: 201 with the created resource; without its id we could never address it again.
    return withId(body, () => this.#badResponse("POST", kind, "created resource has no id"));
  }

  async #replace(kind: Kind, id: string, resource: ScimResource, signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    const body = encodeBooleans(Object.fromEntries(Object.entries(resource).filter(([k]) => !READ_ONLY.has(k))), this.#dialect);
    return optionalWithId(await this.#json("PUT", this.#path(kind, id), { body, signal }));
  }

  async #patch(kind: Kind, id: string, ops: readonly AppPatchOperation[], signal?: AbortSignal): Promise<ScimResourceWithId | null> {
    const body = patchBody(ops, this.#dialect);
    return optionalWithId(await this.#json("PATCH", this.#path(kind, id), { body, signal }));
  }

  async #delete(kind: Kind, id: string, signal?: AbortSignal): Promise<"deleted" | "absent"> {
    try {
      await this.#send("DELETE", this.#path(kind, id), { signal });
      return "deleted";
    } catch (e) {
      if (e instanceof AppHttpError && e.notFound) return "absent";
      throw e;
    }
  }

  async #list(kind: Kind, startIndex: number, count: number, filter: string | undefined, signal?: AbortSignal): Promise<ScimPage> {
    const body = await this.#json("GET", this.#path(kind), { query: { filter, startIndex, count }, signal });
    const doc = (body ?? {}) as Record<string, unknown>;
    const resources = asArray(getCI(doc, "Resources")).map((r) => withId(r, () => this.#badResponse("GET", kind, "listed resource has no id")));
    const num = <T>(key: string, fallback: T) => {
      const raw = getCI(doc, key);
      return raw !== undefined && raw !== null && Number.isFinite(Number(raw)) ? Number(raw) : fallback;
    };
    return { resources, totalResults: num("totalResults", null), startIndex: num("startIndex", startIndex), itemsPerPage: num("itemsPerPage", resources.length) };
  }

  /** Pages by startIndex (RFC 7644 §3.4.2.4). The app may return fewer than asked (its maxResults), so we
   * advance by what arrived; a page with nothing new ends the walk (apps that ignore startIndex), and without
   * totalResults we read until an empty page rather than stop early and under-report the app's accounts. */
  async *#iterate(kind: Kind, options: { pageSize?: number; filter?: string; signal?: AbortSignal }): AsyncGenerator<ScimResourceWithId> {
    const count = Math.min(options.pageSize ?? 100, this.#capabilities?.maxResults ?? Number.POSITIVE_INFINITY);
    const seen = new Set<string>();
    for (let start = 1; ; ) {
      const page = await this.#list(kind, start, count, options.filter, options.signal);
      let fresh = 0;
      for (const resource of page.resources) {
        if (seen.has(resource.id)) continue;
        seen.add(resource.id);
        fresh++;
        yield resource;
      }
      start += page.resources.length;
      if (fresh === 0 || (page.totalResults !== null && start > page.totalResults)) return;
    }
  }

  // ---- HTTP ----
  #path(kind: Kind | "", id?: string): string {
    return `${this.#base}${kind ? `/${kind}` : ""}${id === undefined ? "" : `/${encodeURIComponent(id)}`}`;
  }

  async #json(method: Method, path: string, spec: RequestSpec): Promise<unknown> {
    const res = await this.#send(method, path, spec);
    if (res.text.trim() === "") return null; // 204, or 200 without body
    try {
      return JSON.parse(res.text);
    } catch {
      throw new AppHttpError({ app: this.app, method, path, code: "FANOUT_BAD_RESPONSE", status: res.status, body: res.text, secrets: this.#auth.secrets() });
    }
  }

  async #send(method: Method, path: string, spec: RequestSpec): Promise<{ status: number; text: string }> {
    const query = Object.entries(spec.query ?? {})
      .filter(([, v]) => v !== undefined)
      // encodeURIComponent, not URLSearchParams: "+" for space is form encoding, which not every SCIM app decodes.
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join("&");
    const permit = this.#limiter ? await this.#limiter.acquire(spec.signal) : undefined;
    const started = this.#clock.monotonic();
    let status: number | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        const headers: Record<string, string> = { authorization: await this.#auth.header(spec.signal), accept: `${SCIM_JSON}, application/json` };
        if (spec.body !== undefined) headers["content-type"] = SCIM_JSON;
        const res = await send(this.#dispatcher, {
          origin: this.#origin,
          path: query ? `${path}?${query}` : path,
          method,
          headers,
          body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
          timeoutMs: this.#config.timeoutMs,
          signal: spec.signal,
        }).catch((e: unknown) => {
          throw this.#transportError(method, path, e);
        });
        status = res.status;
        // One refresh on 401: an OAuth2 token may have been revoked or rotated before its expiry.
        if (res.status === 401 && attempt === 0 && this.#auth.invalidate()) continue;
        if (res.status >= 200 && res.status < 300) return res;
        const retryAfterMs = parseRetryAfter(res.headers["retry-after"], this.#clock.now().getTime());
        if (retryAfterMs !== undefined && (res.status === 429 || res.status === 503)) this.#limiter?.pauseFor(retryAfterMs);
        throw new AppHttpError({ app: this.app, method, path, code: codeForStatus(res.status), status: res.status, body: res.text, retryAfterMs, secrets: this.#auth.secrets() });
      }
    } finally {
      permit?.release();
      this.#options.onResponse?.({ app: this.app, method, path, status, durationMs: this.#clock.monotonic() - started });
    }
  }

  #transportError(method: string, path: string, e: unknown): AppHttpError {
    if (e instanceof AppHttpError) return e; // from the OAuth2 token request
    const kind = e instanceof TransportError ? e.kind : "network";
    // A caller abort is not the app's fault, but retrying later is still right for a job that was cut short.
    const code = kind === "timeout" ? "FANOUT_TIMEOUT" : "FANOUT_NETWORK";
    return new AppHttpError({ app: this.app, method, path, code, detail: e instanceof Error ? e.message : String(e), cause: e });
  }

  #badResponse(method: string, kind: Kind, detail: string): never {
    throw new AppHttpError({ app: this.app, method, path: this.#path(kind), code: "FANOUT_BAD_RESPONSE", detail });
  }
  #notFound(method: string, kind: Kind, id: string): never {
    throw new AppHttpError({ app: this.app, method, path: this.#path(kind, id), code: "FANOUT_NOT_FOUND", status: 404 });
  }
}

function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null) : [];
}

/** Ids are opaque (RFC 7643 §3.1): any non-empty string; a numeric id is kept as its string form. */
function withId(value: unknown, fail: () => never): ScimResourceWithId {
  const id = typeof value === "object" && value !== null ? (value as Record<string, unknown>).id : undefined;
  if ((typeof id !== "string" || id === "") && typeof id !== "number") return fail();
  return { ...(value as ScimResource), id: String(id) };
}

function optionalWithId(value: unknown): ScimResourceWithId | null {
  const id = typeof value === "object" && value !== null ? (value as Record<string, unknown>).id : undefined;
  return typeof id === "string" || typeof id === "number" ? { ...(value as ScimResource), id: String(id) } : null;
}
