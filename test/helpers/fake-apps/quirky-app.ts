// A downstream app with the quirks real SaaS SCIM endpoints have (docs/scim-clients.md "Downstream apps"):
// non-UUID ids containing "@", PUT-only (PATCH → 405 or 501) or PATCH answered 204, 500 instead of 404 for
// unknown ids, filters on unsupported attributes silently ignored (everyone returned), small pages, no
// scimType on errors, and switchable faults: 429 + Retry-After, permanent or periodic 503, slow responses.
// Tests flip `faults` / `delayMs` between requests.
import SCIMMY from "scimmy";
import { applyFilter } from "./filter.ts";
import { FakeScimServer, paging, type FakeAuth, type ParsedRequest, type Reply } from "./harness.ts";
import { AppGroup, AppUser, applyPatch } from "./scim-schemas.ts";

export type StoredResource = Record<string, unknown> & { id: string };

export interface QuirkyAppOptions {
  token?: string;
  auth?: FakeAuth;
  /** What PATCH does: refused with 405 (default) or 501, or applied and answered 204 No Content. */
  patch?: "reject-405" | "reject-501" | "no-content";
  /** Page size cap; default 50. */
  pageSize?: number;
}

export interface QuirkyFaults {
  /** Every request → 503 (with `retryAfter` if set). */
  unavailable: boolean;
  /** Every n-th request → 503 (0 = off). */
  failEvery: number;
  /** The next `remaining` requests → 429 with Retry-After `retryAfter` (seconds or HTTP-date). */
  throttle: { remaining: number; retryAfter: string } | null;
  retryAfter?: string;
}

export class QuirkyScimApp extends FakeScimServer {
  readonly users = new Map<string, StoredResource>();
  readonly groups = new Map<string, StoredResource>();
  readonly faults: QuirkyFaults = { unavailable: false, failEvery: 0, throttle: null };
  patchMode: NonNullable<QuirkyAppOptions["patch"]>;
  readonly pageSize: number;
  #seq = 0;
  #served = 0;

  constructor(options: QuirkyAppOptions = {}) {
    super(options.auth ?? { bearer: options.token ?? "quirky-token" });
    this.patchMode = options.patch ?? "reject-405";
    this.pageSize = options.pageSize ?? 50;
  }

  /** The next `times` requests get 429 with this Retry-After value. */
  throttle(times: number, retryAfter: string | number): void {
    this.faults.throttle = { remaining: times, retryAfter: String(retryAfter) };
  }

  seedUser(resource: Record<string, unknown>): StoredResource {
    const id = `usr_${++this.#seq}@x`;
    const stored = { ...resource, id, meta: { resourceType: "User" } } as StoredResource;
    this.users.set(id, stored);
    return stored;
  }
  memberIds(groupId: string): string[] {
    const members = (this.groups.get(groupId)?.members ?? []) as Array<{ value: string }>;
    return members.map((m) => m.value).sort();
  }

  protected override intercept(_req: ParsedRequest): Reply | undefined {
    this.#served++;
    const retry: Record<string, string> = this.faults.retryAfter ? { "retry-after": this.faults.retryAfter } : {};
    if (this.faults.throttle && this.faults.throttle.remaining > 0) {
      this.faults.throttle.remaining--;
      return { status: 429, body: { message: "Too many requests" }, headers: { "retry-after": this.faults.throttle.retryAfter } };
    }
    if (this.faults.unavailable || (this.faults.failEvery > 0 && this.#served % this.faults.failEvery === 0))
      return { status: 503, body: { message: "Service unavailable" }, headers: retry };
    return undefined;
  }

  protected async handle(req: ParsedRequest): Promise<Reply> {
    const [type, id] = req.segments;
    if (type === "ServiceProviderConfig") {
      return { status: 200, body: { patch: { supported: this.patchMode === "no-content" }, filter: { supported: true, maxResults: this.pageSize } } };
    }
    if (type !== "Users" && type !== "Groups") return { status: 404, body: { message: "Not found" } };
    const store = type === "Users" ? this.users : this.groups;
    if (id === undefined) {
      if (req.method === "GET") return this.#list(type, req.query);
      if (req.method === "POST") return this.#create(type, req.body as Record<string, unknown>);
      return { status: 405, body: { message: "Method not allowed" } };
    }
    const existing = store.get(id);
    // The quirk: an unknown id is an internal error, not 404.
    if (!existing) return { status: 500, body: { message: "Internal error: object reference not set" } };
    switch (req.method) {
      case "GET":
        return { status: 200, body: existing };
      case "PUT": {
        const body = { ...(req.body as Record<string, unknown>), id, meta: existing.meta } as StoredResource;
        store.set(id, body);
        return { status: 200, body };
      }
      case "PATCH":
        return this.#patch(type, existing, req.body);
      case "DELETE":
        store.delete(id);
        return { status: 204 };
      default:
        return { status: 405, body: { message: "Method not allowed" } };
    }
  }

  #create(type: "Users" | "Groups", body: Record<string, unknown> | undefined): Reply {
    const key = type === "Users" ? "userName" : "displayName";
    const value = body?.[key];
    if (typeof value !== "string" || value === "") return { status: 400, body: { message: `${key} required` } };
    const store = type === "Users" ? this.users : this.groups;
    for (const other of store.values())
      if (String(other[key]).toLowerCase() === value.toLowerCase()) return { status: 409, body: { message: `${key} already exists` } };
    const id = `${type === "Users" ? "usr" : "grp"}_${++this.#seq}@x`;
    const stored = { ...body, id, meta: { resourceType: type === "Users" ? "User" : "Group" } } as StoredResource;
    store.set(id, stored);
    return { status: 201, body: stored };
  }

  async #patch(type: "Users" | "Groups", existing: StoredResource, body: unknown): Promise<Reply> {
    if (this.patchMode === "reject-405") return { status: 405, body: { message: "PATCH not supported" }, headers: { allow: "GET, PUT, DELETE" } };
    if (this.patchMode === "reject-501") return { status: 501, body: { message: "Not implemented" } };
    const patched = await applyPatch(type === "Users" ? AppUser : AppGroup, existing, body);
    (type === "Users" ? this.users : this.groups).set(existing.id, { ...patched, id: existing.id, meta: existing.meta } as StoredResource);
    return { status: 204 };
  }

  #list(type: "Users" | "Groups", query: URLSearchParams): Reply {
    const store = type === "Users" ? this.users : this.groups;
    const filterable: Record<string, boolean> = type === "Users" ? { username: true, externalid: true } : { displayname: true, externalid: true };
    const all = applyFilter([...store.values()], query.get("filter"), filterable, "ignore");
    const { startIndex, count } = paging(query, this.pageSize);
    const resources = all.slice(startIndex - 1, startIndex - 1 + count);
    // No itemsPerPage and no startIndex echoed: clients must cope with the bare minimum.
    return { status: 200, body: { schemas: [SCIMMY.Messages.ListResponse.id], totalResults: all.length, Resources: resources } };
  }
}

export async function startQuirkyApp(options: QuirkyAppOptions = {}): Promise<QuirkyScimApp> {
  return new QuirkyScimApp(options).start();
}
