// A strict RFC 7644 downstream app: scimmy validates bodies (RFC 7643 schemas), applies PatchOps and shapes
// ListResponses; routing and the store are per instance (no SCIMMY.Resources handlers, which are
// process-wide), so twenty of these in one process never share data. Inspect `users`, `groups` and
// `requests` directly in tests; `seedUser` skips HTTP for bulk set-up.
import { randomUUID } from "node:crypto";
import SCIMMY from "scimmy";
import { applyFilter } from "./filter.ts";
import { FakeScimServer, paging, ScimHttpError, type FakeAuth, type ParsedRequest, type Reply } from "./harness.ts";
import { AppGroup, AppUser, applyPatch, plain, type AppSchemaClass } from "./scim-schemas.ts";

export type StoredResource = Record<string, unknown> & { id: string };

export interface StrictAppOptions {
  /** Bearer token the app accepts; default "strict-token". */
  token?: string;
  /** Overrides `token` (e.g. basic auth). */
  auth?: FakeAuth;
  /** filter.maxResults: the app never returns more per page (RFC 7644 §3.4.2.4). Default 100. */
  maxResults?: number;
  /** Compare userName exactly in filters, as a plain scimmy server does (its Filter.match is case-exact). */
  caseExactUserName?: boolean;
}

interface Collection {
  schema: AppSchemaClass;
  resourceType: "User" | "Group";
  store: Map<string, StoredResource>;
  /** Attribute with uniqueness "server" (RFC 7643 §4.1.1 userName; displayName by this app's choice). */
  unique: "userName" | "displayName";
  filterable: Record<string, boolean>;
}

export class StrictScimApp extends FakeScimServer {
  readonly users = new Map<string, StoredResource>();
  readonly groups = new Map<string, StoredResource>();
  readonly maxResults: number;
  #version = 0;
  readonly #collections: Record<"Users" | "Groups", Collection>;

  constructor(options: StrictAppOptions = {}) {
    super(options.auth ?? { bearer: options.token ?? "strict-token" });
    this.maxResults = options.maxResults ?? 100;
    this.#collections = {
      Users: { schema: AppUser, resourceType: "User", store: this.users, unique: "userName", filterable: { username: options.caseExactUserName ?? false, externalid: true, id: true } },
      Groups: { schema: AppGroup, resourceType: "Group", store: this.groups, unique: "displayName", filterable: { displayname: false, externalid: true, id: true } },
    };
  }

  /** Inserts a user as if POSTed (validated, unique), without HTTP. */
  seedUser(resource: Record<string, unknown>): StoredResource {
    return this.#insert(this.#collections.Users, resource);
  }
  seedGroup(resource: Record<string, unknown>): StoredResource {
    return this.#insert(this.#collections.Groups, resource);
  }
  /** Member ids of a group, sorted (for assertions). */
  memberIds(groupId: string): string[] {
    const members = (this.groups.get(groupId)?.members ?? []) as Array<{ value: string }>;
    return members.map((m) => m.value).sort();
  }

  protected async handle(req: ParsedRequest): Promise<Reply> {
    const [type, id, ...rest] = req.segments;
    if (type === "ServiceProviderConfig" && req.method === "GET" && id === undefined) return { status: 200, body: this.#serviceProviderConfig() };
    if ((type !== "Users" && type !== "Groups") || rest.length > 0) throw new ScimHttpError(404, undefined, "no such endpoint");
    const c = this.#collections[type];
    if (id === undefined) {
      if (req.method === "GET") return this.#list(c, req.query);
      if (req.method === "POST") {
        const created = this.#insert(c, req.body);
        return { status: 201, body: created, headers: { location: String((created.meta as { location: string }).location) } };
      }
    } else {
      const existing = c.store.get(id);
      if (!existing) throw new ScimHttpError(404, undefined, `${c.resourceType} ${id} not found`);
      if (req.method === "GET") return { status: 200, body: existing };
      if (req.method === "PUT") return { status: 200, body: this.#save(c, existing, req.body) };
      if (req.method === "PATCH") return await this.#patch(c, existing, req.body);
      if (req.method === "DELETE") return this.#delete(c, id);
    }
    throw new ScimHttpError(405, undefined, `${req.method} not allowed here`);
  }

  #list(c: Collection, query: URLSearchParams): Reply {
    const all = applyFilter([...c.store.values()], query.get("filter"), c.filterable, "reject");
    const { startIndex, count } = paging(query, this.maxResults);
    // ListResponse slices [startIndex, startIndex+count) itself and reports totalResults (RFC 7644 §3.4.2).
    return { status: 200, body: plain(new SCIMMY.Messages.ListResponse(all as unknown as SCIMMY.Types.Schema[], { startIndex, count })) };
  }

  #insert(c: Collection, body: unknown): StoredResource {
    const valid = this.#validate(c, body, undefined);
    const id = randomUUID();
    const now = new Date().toISOString();
    const stored = { ...valid, id, meta: this.#meta(c, id, now, now) } as StoredResource;
    c.store.set(id, stored);
    return stored;
  }

  /** PUT semantics (RFC 7644 §3.5.1): the body replaces every mutable attribute; id and created stay. */
  #save(c: Collection, existing: StoredResource, body: unknown): StoredResource {
    const valid = this.#validate(c, body, existing.id);
    const created = (existing.meta as { created: string }).created;
    const stored = { ...valid, id: existing.id, meta: this.#meta(c, existing.id, created, new Date().toISOString()) } as StoredResource;
    c.store.set(existing.id, stored);
    return stored;
  }

  async #patch(c: Collection, existing: StoredResource, body: unknown): Promise<Reply> {
    if (typeof body !== "object" || body === null) throw new ScimHttpError(400, "invalidSyntax", "PatchOp body required");
    const patched = await applyPatch(c.schema, existing, body);
    const { id: _id, meta: _meta, ...attributes } = patched;
    return { status: 200, body: this.#save(c, existing, attributes) };
  }

  #delete(c: Collection, id: string): Reply {
    c.store.delete(id);
    // A deleted user leaves every group (RFC 7644 §3.6: the resource is no longer returned anywhere).
    for (const group of this.groups.values()) {
      const members = (group.members ?? []) as Array<{ value: string }>;
      if (members.some((m) => m.value === id)) group.members = members.filter((m) => m.value !== id);
    }
    return { status: 204 };
  }

  #validate(c: Collection, body: unknown, selfId: string | undefined): Record<string, unknown> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ScimHttpError(400, "invalidSyntax", "body must be a JSON object");
    const schemas = (body as { schemas?: unknown }).schemas;
    if (!Array.isArray(schemas) || schemas.length === 0) throw new ScimHttpError(400, "invalidSyntax", "schemas is required (RFC 7643 §3)");
    const valid = plain(new c.schema(body, "in"));
    delete valid.id;
    delete valid.meta;
    const value = valid[c.unique];
    if (typeof value !== "string" || value === "") throw new ScimHttpError(400, "invalidValue", `${c.unique} is required`);
    for (const other of c.store.values()) {
      if (other.id !== selfId && String(other[c.unique]).toLowerCase() === value.toLowerCase())
        throw new ScimHttpError(409, "uniqueness", `${c.unique} '${value}' is already taken`);
    }
    if (c.resourceType === "Group") {
      const members = (valid.members ?? []) as Array<{ value?: string }>;
      const unknown = members.find((m) => !m.value || (!this.users.has(m.value) && !this.groups.has(m.value)));
      if (unknown) throw new ScimHttpError(400, "invalidValue", `unknown member '${unknown.value}'`);
      // Duplicate adds are idempotent (RFC 7644 §3.5.2.1: "…value already exists… no change").
      valid.members = [...new Map(members.map((m) => [m.value, m])).values()];
    }
    return valid;
  }

  #meta(c: Collection, id: string, created: string, lastModified: string): Record<string, string> {
    const kind = c.resourceType === "User" ? "Users" : "Groups";
    return { resourceType: c.resourceType, created, lastModified, location: `${this.url}/${kind}/${id}`, version: `W/"${++this.#version}"` };
  }

  /** RFC 7643 §5. */
  #serviceProviderConfig(): Record<string, unknown> {
    return {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: this.maxResults },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: false },
      authenticationSchemes: [{ type: "oauthbearertoken", name: "Bearer", description: "Bearer token" }],
    };
  }
}

export async function startStrictApp(options: StrictAppOptions = {}): Promise<StrictScimApp> {
  return new StrictScimApp(options).start();
}
