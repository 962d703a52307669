// The SCIM 2.0 endpoints (RFC 7644 §3). A thin router of our own on scimmy's classes instead of
// scimmy-routers: we need SQL paging and cursors, ETags, membership deltas, transactional change
// records, Bulk limits and error mapping that never turns a database fault into 404 (docs/scimmy.md
// 1, 3, 7, 8, 9) — each would be a workaround against scimmy-routers rather than a use of it.
import express, { type Request, type RequestHandler, type Response, type Router } from "express";
import type { Authenticator, Principal } from "../auth/authenticator.ts";
import type { UserService } from "../scim/user-service.ts";
import type { GroupService } from "../scim/group-service.ts";
import type { SearchService } from "../scim/search-service.ts";
import type { ResourceType } from "../scim/attribute-catalog.ts";
import type { BulkService } from "../scim/bulk-service.ts";
import { parseListParams } from "../scim/list-params.ts";
import { assertFilterWithinLimits, assertJsonWithinLimits, assertRawJsonDepth } from "../scim/input-limits.ts";
import { userToScim } from "../scim/user-resource.ts";
import { groupToScim } from "../scim/group-resource.ts";
import { notModified } from "../scim/preconditions.ts";
import { project, wants, type Projection } from "../scim/projection.ts";
import { groupsOfUsers } from "../store/user-repository.ts";
import { membersOfGroups } from "../store/group-repository.ts";
import { resourceTypes, schemaDocuments, serviceProviderConfig, type DiscoveryLimits } from "../scim/discovery.ts";
import { sendScim } from "./scim-response.ts";
import { listResponse } from "../scim/response-bodies.ts";
import { DomainError, badRequest, notFound } from "../shared/errors.ts";
import { SEARCH_REQUEST } from "../scim/schemas.ts";
import type { WriteContext } from "../scim/write-context.ts";
import type pg from "pg";

export interface ScimDeps {
  auth: Authenticator; users: UserService; groups: GroupService; search: SearchService; bulk: BulkService;
  pool: pg.Pool; limits: DiscoveryLimits & { maxBodyBytes: number }; publicUrl?: string;
}

export const baseUrlOf = (req: Request, publicUrl?: string) => `${publicUrl ?? `${req.protocol}://${req.get("host")}`}/scim/v2`;

export function writeContext(req: Request): WriteContext {
  const p = req.user as Principal | undefined;
  return { tokenId: p?.tokenId ?? null, source: p?.source ?? null, requestId: (req as any).id ?? null, actor: p ? `token:${p.name}` : "anonymous" };
}

// RFC 7644 §3.1: SCIM bodies are application/scim+json; application/json is accepted as well. JSON is UTF-8
// (RFC 8259 §8.1), so `charset` is the one parameter allowed, and only as utf-8. Anything else — other
// +json types, `application/json;;;` — is 415 before the body is read.
const SCIM_MEDIA_TYPE = /^application\/(?:scim\+)?json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;
function unsupportedMediaType(req: Request): DomainError | undefined {
  const type = req.get("Content-Type");
  const hasBody = Number(req.get("Content-Length") ?? 0) > 0 || req.get("Transfer-Encoding") !== undefined;
  if ((type === undefined && !hasBody) || SCIM_MEDIA_TYPE.test(type ?? "")) return undefined;
  return new DomainError("UNSUPPORTED_MEDIA_TYPE", 415, `Content-Type ${JSON.stringify(type ?? "")} is not supported; send application/scim+json or application/json (RFC 7644 §3.1)`);
}
/** 415 for other media types, then express.json with the depth of the raw text bounded before parsing. */
const json = (limit: number): RequestHandler => {
  const parse = express.json({ type: () => true, limit, strict: false, verify: (_req, _res, buf) => assertRawJsonDepth(buf) });
  return (req, res, next) => {
    const refused = unsupportedMediaType(req);
    return refused ? next(refused) : parse(req, res, next);
  };
};
const body = (req: Request): Record<string, unknown> => {
  if (!req.body || typeof req.body !== "object" || Array.isArray(req.body)) throw badRequest("invalidSyntax", "the request body must be a JSON object");
  // A SearchRequest's filter is bounded as a filter (400 invalidFilter "too complex"), before the generic walk.
  if (req.path.toLowerCase().endsWith("/.search") && typeof req.body.filter === "string") assertFilterWithinLimits(req.body.filter);
  assertJsonWithinLimits(req.body);
  return req.body as Record<string, unknown>;
};

export function scimRouter(d: ScimDeps): Router {
  const r = express.Router({ caseSensitive: false });
  const read = d.auth.require("scim:read", "scim:write", "admin");
  const write = d.auth.require("scim:write", "admin");
  const base = (req: Request) => baseUrlOf(req, d.publicUrl);
  const ifMatch = (req: Request) => req.get("If-Match") ?? undefined;

  // --- discovery (RFC 7644 §4); also behind a token: SPC details are not for anonymous callers ---
  r.get("/ServiceProviderConfig", read, (req, res) => sendScim(res, 200, serviceProviderConfig(base(req), d.limits)));
  r.get("/Schemas", read, (req, res) => { const s = schemaDocuments(base(req)); sendScim(res, 200, listResponse({ totalResults: s.length, Resources: s, startIndex: 1, itemsPerPage: s.length })); });
  r.get("/Schemas/:id", read, (req, res) => {
    const s = schemaDocuments(base(req)).find((x) => x.id.toLowerCase() === String(req.params.id).toLowerCase());
    if (!s) throw notFound(`Schema ${req.params.id}`);
    sendScim(res, 200, s);
  });
  r.get("/ResourceTypes", read, (req, res) => { const t = resourceTypes(base(req)); sendScim(res, 200, listResponse({ totalResults: t.length, Resources: t, startIndex: 1, itemsPerPage: t.length })); });
  r.get("/ResourceTypes/:id", read, (req, res) => {
    const t = resourceTypes(base(req)).find((x) => x.id.toLowerCase() === String(req.params.id).toLowerCase());
    if (!t) throw notFound(`ResourceType ${req.params.id}`);
    sendScim(res, 200, t);
  });

  // --- Bulk (RFC 7644 §3.7): its own payload limit, advertised in /ServiceProviderConfig ---
  r.post("/Bulk", write, json(d.limits.bulk.maxPayloadBytes), async (req, res) => {
    const out = await d.bulk.execute(body(req), writeContext(req), base(req));
    sendScim(res, 200, out);
  });

  // --- root search (RFC 7644 §3.4.3) across Users and Groups ---
  r.post("/.search", read, json(d.limits.maxBodyBytes), async (req, res) => {
    const p = searchParams(body(req), d.limits.paging);
    const types: ResourceType[] = [];
    for (const t of ["User", "Group"] as const) { try { d.search.where(t, p); types.push(t); } catch (e) { if (!(e instanceof DomainError)) throw e; if (t === "Group" && !types.length) throw e; } }
    const counts = await Promise.all(types.map((t) => d.search.count(t, p)));
    let offset = p.startIndex - 1, room = p.count;
    const Resources: Record<string, unknown>[] = [];
    for (const [i, t] of types.entries()) {
      if (room > 0 && offset < counts[i]!) {
        const page = await d.search.list(t, { ...p, sortBy: p.sortBy }, base(req), { offset, limit: room });
        Resources.push(...page.Resources);
        room -= page.Resources.length;
        offset = 0;
      } else offset = Math.max(0, offset - counts[i]!);
    }
    sendScim(res, 200, listResponse({ totalResults: counts.reduce((a, b) => a + b, 0), Resources, startIndex: p.startIndex, itemsPerPage: Resources.length }));
  });

  for (const [type, path] of [["User", "/Users"], ["Group", "/Groups"]] as const) {
    const svc = type === "User" ? d.users : d.groups;
    /** A written resource as the answer shows it: `projection` is the write's query, parsed before the write. */
    const render = async (req: Request, row: any, projection: Projection, known?: { groups: [] }) => {
      if (type === "User") {
        const groups = !wants(projection, "groups") ? undefined : known ? known.groups : (await groupsOfUsers(d.pool, [row.id])).get(row.id) ?? [];
        return project(userToScim(row, groups, base(req)), projection);
      }
      const members = wants(projection, "members") ? (await membersOfGroups(d.pool, [row.id])).get(row.id) ?? [] : undefined;
      return project(groupToScim(row, members, base(req)), projection);
    };
    const etag = (row: { version: number }) => ({ ETag: `W/"${row.version}"` });
    const list = async (req: Request, res: Response, p: ReturnType<typeof parseListParams>) =>
      sendScim(res, 200, listResponse(await d.search.list(type, p, base(req))));

    r.get(path, read, (req, res) => list(req, res, parseListParams(req.query as Record<string, unknown>, d.limits.paging)));
    r.post(`${path}/.search`, read, json(d.limits.maxBodyBytes), (req, res) => list(req, res, searchParams(body(req), d.limits.paging)));
    // The query of a write (attributes/excludedAttributes shape the answer) is parsed before the write, once:
    // a bad one is a 400 that changed nothing, a good one projects the answer.
    const writeQuery = (req: Request): Projection => parseListParams(req.query as Record<string, unknown>, d.limits.paging);
    r.post(path, write, json(d.limits.maxBodyBytes), async (req, res) => {
      const projection = writeQuery(req);
      const row = await svc.create(body(req), writeContext(req));
      const out = await render(req, row, projection, "memberOf" in row && row.memberOf ? { groups: row.memberOf } : undefined);
      // Location from the row: `attributes` may have projected meta away
      sendScim(res, 201, out, { Location: `${base(req)}${path}/${row.id}`, ...etag(row) });
    });
    r.get(`${path}/:id`, read, async (req, res) => {
      const found = await d.search.one(type, String(req.params.id), parseListParams(req.query as Record<string, unknown>, d.limits.paging), base(req));
      if (!found) throw notFound(`${type} ${req.params.id}`);
      if (notModified(req.get("If-None-Match"), found.version)) return sendScim(res, 304, undefined, etag(found));
      sendScim(res, 200, found.resource, etag(found));
    });
    r.put(`${path}/:id`, write, json(d.limits.maxBodyBytes), async (req, res) => {
      const projection = writeQuery(req);
      const row = await svc.replace(String(req.params.id), body(req), writeContext(req), ifMatch(req));
      sendScim(res, 200, await render(req, row, projection), etag(row));
    });
    r.patch(`${path}/:id`, write, json(d.limits.maxBodyBytes), async (req, res) => {
      const projection = writeQuery(req);
      const row = await svc.patch(String(req.params.id), body(req), writeContext(req), ifMatch(req));
      // RFC 7644 §3.5.2: 200 with the resource; honours attributes/excludedAttributes on the query.
      sendScim(res, 200, await render(req, row, projection), etag(row));
    });
    r.delete(`${path}/:id`, write, async (req, res) => {
      await svc.delete(String(req.params.id), writeContext(req), ifMatch(req));
      sendScim(res, 204);
    });
    r.all(path, methodNotAllowed("GET, POST"));
    r.all(`${path}/:id`, methodNotAllowed("GET, PUT, PATCH, DELETE"));
  }
  r.all(["/Bulk", "/.search"], methodNotAllowed("POST"));
  return r;
}

const methodNotAllowed = (allow: string) => (req: Request, res: Response) => {
  res.set("Allow", allow);
  throw new DomainError("METHOD_NOT_ALLOWED", 405, `${req.method} is not supported here; use ${allow}`);
};

function searchParams(b: Record<string, unknown>, paging: DiscoveryLimits["paging"]) {
  if (Array.isArray(b.schemas) && !b.schemas.includes(SEARCH_REQUEST)) throw badRequest("invalidSyntax", `a search body must have schemas [${SEARCH_REQUEST}]`);
  return parseListParams(b, paging);
}
