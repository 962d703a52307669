// Admin API of the rules and lifecycle layer, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Thin: the declarations (admin-route.ts) validate the request, the use case does the work. Errors are JSON
// {error: {code, message}} with the stable codes of shared/errors.ts (POLICY_INVALID adds `issues`).
//
//   GET    /exceptions?user=&group=&open=true|false&limit=   → {items}
//   POST   /exceptions {user, group, kind, reason, owner, approver?, expiresAt?}   → 201 {exception, gained, lost}
//   GET    /exceptions/{id}
//   DELETE /exceptions/{id} {reason?} (or ?reason=)            → {exception, gained, lost}   (revoke)
//   GET    /reviews?status=&kind=&user=&limit=                → {items}   (mass-deprovision items list their held users)
//   GET    /reviews/{id}
//   POST   /reviews/{id}/approve {reason}    POST /reviews/{id}/deny {reason}
//   GET    /events?user=&kind=&limit=&before=                 → {items}   (lifecycle events, newest first; kind: joiner,leaver,…)
//   GET    /policy                                            → the active version and its groups
//   GET    /sources                                           → who owns which user attribute (source authority)
//   POST   /policy/validate | /policy/plan | /policy/apply    body: the YAML (Content-Type application/yaml or
//          text/*; ?file= names it in messages), JSON {yaml, file?}, or the policy itself as JSON
//          {groups, apps, guards, sources, dataQuality}. Never a path: the broker reads no file on a caller's behalf.
//   POST   /policy/replay?from=&to=&limit=                    the policy as above (a JSON body may carry from, to,
//          limit beside it) → what it would have done over the recorded HR changes of the window (nothing written)
import express, { type Request, type Router } from "express";
import type pg from "pg";
import * as z from "zod";
import { badRequest } from "../shared/errors.ts";
import type { Principal } from "../auth/authenticator.ts";
import type { Logger } from "../shared/logger.ts";
import type { Lifecycle } from "../lifecycle/lifecycle.ts";
import { EXCEPTION_KINDS } from "../lifecycle/exceptions.ts";
import { REVIEW_KINDS, REVIEW_STATUSES } from "../lifecycle/review-store.ts";
import { REPLAY_MAX_DIFFERENCES } from "../lifecycle/policy-replay.ts";
import { resolveUserId } from "../lifecycle/user-ref.ts";
import { route, routerOf, validateInput, type AdminRoute } from "./admin-route.ts";
import { boolParam, intParam, itemsOf, listOf, NullableTimestamp, oneOf, ref, timeParam, Timestamp, userRef } from "./admin-schemas.ts";
import { EVENT_KINDS } from "./event-query.ts";
import { listEvents } from "../lifecycle/event-store.ts";

export interface LifecycleRouterDeps { lifecycle: Lifecycle; log: Logger; pool: pg.Pool }

const actorOf = (req: Request) => { const p = req.user as Principal | undefined; return p ? `token:${p.name}` : "admin"; };

const POLICY_KEYS = new Set(["groups", "apps", "guards", "sources", "dataQuality"]);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

/**
 * The policy text of a request, from its body only: a YAML body, JSON {yaml, file?}, or the policy as a JSON
 * object (YAML 1.2 reads JSON, so it is loaded as text and issues still carry lines). A `path` is refused
 * without touching the file system: the admin API must not become a way to read the broker host's files.
 */
function policySource(req: Request, body: unknown): { text: string; file: string } {
  if (typeof body === "string") return { text: body, file: str(req.query.file) ?? "(request)" };
  const b = body && typeof body === "object" && !Array.isArray(body) ? body as Record<string, unknown> : {};
  if (typeof b.yaml === "string") return { text: b.yaml, file: str(b.file) ?? "(request)" };
  const keys = Object.keys(b);
  if (keys.length > 0 && keys.every((k) => POLICY_KEYS.has(k))) return { text: JSON.stringify(b, null, 2), file: "(request)" };
  throw badRequest("invalidValue",
    "send the policy in the request body: YAML (Content-Type: application/yaml), JSON {yaml}, or the policy as JSON {groups, apps, guards, sources, dataQuality}; file paths are not accepted");
}

// ---- schemas ----
const Id = z.object({ id: ref("the id", 100) });
const Reason = z.string().max(2000);
const ExceptionKind = oneOf(EXCEPTION_KINDS as unknown as [string, ...string[]], "grant: add the group; keep: keep it against the rules; block: never hold it");
const ExceptionRow = z.looseObject({
  id: z.string(), userId: z.string(), group: z.string(), kind: z.enum(EXCEPTION_KINDS as unknown as [string, ...string[]]), reason: z.string(), owner: z.string(),
  approver: z.string().nullable(), expiresAt: NullableTimestamp, reviewId: z.string().nullable(), createdBy: z.string(), createdAt: Timestamp,
  revokedAt: NullableTimestamp, revokedBy: z.string().nullable(), revokeReason: z.string().nullable(), expiredAt: NullableTimestamp,
}).meta({ id: "Exception" });
const ExceptionResult = z.object({ exception: ExceptionRow, gained: z.array(z.string()), lost: z.array(z.string()) });
const Review = z.looseObject({
  id: z.string(), kind: z.enum(REVIEW_KINDS as unknown as [string, ...string[]]), status: z.enum(REVIEW_STATUSES as unknown as [string, ...string[]]),
  userId: z.string().nullable(), group: z.string().nullable(), owner: z.string().nullable(), source: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()), reason: z.string().nullable(), decidedBy: z.string().nullable(), decidedAt: NullableTimestamp, createdAt: Timestamp,
  held: z.array(z.looseObject({})).optional().meta({ description: "mass-deprovision reviews: the leavers held" }),
}).meta({ id: "Review" });
const LifecycleEvent = z.object({
  id: z.number().int(), userId: z.string(), kind: z.string().meta({ description: EVENT_KINDS.join(", ") }), details: z.record(z.string(), z.unknown()).nullable(),
  changeId: z.number().int().nullable(), source: z.string().nullable(), cause: z.string(), held: z.boolean(), createdAt: Timestamp,
}).meta({ id: "LifecycleEvent" });
const PolicyJson = z.looseObject({
  yaml: z.string().optional().meta({ description: "the policy as YAML text" }), file: z.string().optional().meta({ description: "names the policy in messages" }),
  groups: z.array(z.unknown()).optional(), apps: z.array(z.unknown()).optional(), guards: z.unknown().optional(),
  sources: z.array(z.unknown()).optional(), dataQuality: z.unknown().optional(),
}).meta({ id: "PolicyBody", description: "{yaml, file?} or the policy itself as JSON (schemas/broker.schema.json)" });
const YAML_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"];
const yamlText = express.text({ type: YAML_TYPES, limit: "2mb" });
const policyBody = (json: z.ZodType = PolicyJson) => ({
  schema: z.union([z.string(), z.record(z.string(), z.unknown())], { error: "must be the policy as YAML text or a JSON object" }),
  content: { "application/yaml": z.string().meta({ description: "broker.yaml" }), "application/json": json },
  parser: yamlText,
});
const PolicyFileQuery = z.object({ file: ref("names the policy in messages", 500).optional() });

export function lifecycleRoutes(d: LifecycleRouterDeps): AdminRoute[] {
  const { lifecycle: lc } = d;
  return [
    // ---- exceptions register ----
    route({
      method: "get", path: "/exceptions", tag: "exceptions", summary: "List membership exceptions",
      query: z.object({ user: userRef.optional(), group: ref("a group name").optional(), open: boolParam("only open (true) or closed (false)").optional(), limit: intParam(1, 5000).optional() }),
      response: itemsOf(ExceptionRow),
      handle: async ({ query: q }) => ({ items: await lc.exceptions.list({ user: q.user, group: q.group, open: q.open, limit: q.limit }) }),
    }),
    route({
      method: "post", path: "/exceptions", tag: "exceptions", summary: "Grant, keep or block a group for a user, with a reason, an owner and an optional expiry",
      status: 201, errors: [404, 409],
      body: { schema: z.object({
        user: userRef, group: ref("the group's name"), kind: ExceptionKind, reason: Reason.min(1), owner: ref("who answers for it", 320),
        approver: ref("required for a privileged group", 320).optional(), expiresAt: timeParam("when it ends (in the future)").optional(),
      }) },
      response: ExceptionResult,
      handle: ({ body: b }, req) => lc.exceptions.create({
        user: b.user, group: b.group, kind: b.kind as never, reason: b.reason, owner: b.owner, approver: b.approver?.trim() || null, expiresAt: b.expiresAt ?? null,
      }, actorOf(req)),
    }),
    route({
      method: "get", path: "/exceptions/{id}", tag: "exceptions", summary: "One exception", params: Id, errors: [404],
      response: ExceptionRow, handle: ({ params }) => lc.exceptions.get(params.id),
    }),
    route({
      method: "delete", path: "/exceptions/{id}", tag: "exceptions", summary: "Revoke an exception (reason in the body or ?reason=)",
      params: Id, errors: [404, 409], query: z.object({ reason: Reason.optional() }), body: { schema: z.object({ reason: Reason.optional() }) },
      response: ExceptionResult,
      handle: ({ params, query, body }, req) => lc.exceptions.revoke(params.id, actorOf(req), body.reason?.trim() || query.reason || null),
    }),

    // ---- review queue ----
    route({
      method: "get", path: "/reviews", tag: "reviews", summary: "List reviews (mass-deprovision items list their held users)",
      query: z.object({
        status: oneOf(REVIEW_STATUSES as unknown as [string, ...string[]]).optional(), kind: oneOf(REVIEW_KINDS as unknown as [string, ...string[]]).optional(),
        user: userRef.optional(), limit: intParam(1, 5000).optional(),
      }),
      response: itemsOf(Review),
      handle: async ({ query: q }) => ({ items: await lc.reviews.list({ status: q.status as never, kind: q.kind as never, user: q.user, limit: q.limit }) }),
    }),
    route({
      method: "get", path: "/reviews/{id}", tag: "reviews", summary: "One review", params: Id, errors: [404],
      response: Review, handle: ({ params }) => lc.reviews.get(params.id),
    }),
    ...(["approve", "deny"] as const).map((decision) => route({
      method: "post", path: `/reviews/{id}/${decision}`, tag: "reviews", summary: `${decision === "approve" ? "Approve" : "Deny"} a pending review, with a reason`,
      params: Id, errors: [404, 409], body: { schema: z.object({ reason: Reason.trim().min(1, { error: "is required: a decision needs a reason" }) }) },
      response: Review,
      handle: ({ params, body }, req) => lc.reviews[decision](params.id, body.reason, actorOf(req)),
    })),

    // ---- lifecycle events ----
    route({
      method: "get", path: "/events", tag: "events", summary: "Lifecycle events (joiner, mover, leaver, …), newest first",
      query: z.object({
        user: userRef.optional(), kind: listOf(EVENT_KINDS, "event kind", "event kinds").optional(), limit: intParam(1, 1000, "page size (default 100)").optional(),
        // An id beyond 2^53 would be rounded and overflow bigint in SQL (22003): refused as 400.
        before: intParam(1, Number.MAX_SAFE_INTEGER, "the id of the last event of the previous page").optional(),
      }),
      response: itemsOf(LifecycleEvent),
      handle: async ({ query: q }) => {
        const userId = q.user ? await resolveUserId(d.pool, q.user) : undefined;
        return { items: await listEvents(d.pool, { userId, kinds: q.kind, limit: q.limit ?? 100, before: q.before }) };
      },
    }),

    // ---- policy ----
    route({
      method: "get", path: "/policy", tag: "policy", summary: "The active policy version and its groups, apps, guards and sources",
      response: z.looseObject({ version: z.string(), file: z.string().nullable(), appliedAt: NullableTimestamp, appliedBy: z.string().nullable(), convergedAt: NullableTimestamp, groups: z.array(z.looseObject({ name: z.string() })), apps: z.array(z.string()) }),
      handle: async () => {
        const { row, policy: p } = await lc.activePolicy();
        return {
          version: p.version, file: row?.file ?? null, appliedAt: row?.appliedAt ?? null, appliedBy: row?.appliedBy ?? null,
          convergedAt: row?.convergedAt ?? null,
          groups: p.groups.map((g) => ({ name: g.name, when: g.when, privileged: g.privileged, portable: g.portable, owner: g.owner ?? null, description: g.description ?? null })),
          apps: p.apps.map((a) => a.name), guards: { massDeprovision: p.guards.massDeprovision },
          sources: p.sources.map((x) => ({ name: x.name, owner: x.owner ?? null, owns: x.owns })), dataQuality: p.dataQuality,
        };
      },
    }),
    route({
      method: "get", path: "/sources", tag: "policy", summary: "Source authority: which HR source owns which user attribute",
      response: z.looseObject({ sources: z.array(z.looseObject({ name: z.string() })), attributes: z.array(z.object({ attribute: z.string(), path: z.string(), owner: z.string() })), unowned: z.string() }),
      handle: async () => {
        const { policy: p } = await lc.activePolicy();
        return {
          sources: p.sources.map((s) => ({ name: s.name, owner: s.owner ?? null, owns: s.owns })),
          attributes: p.owned.map((a) => ({ attribute: a.name, path: a.path, owner: a.owner })),
          unowned: "attributes no source owns may be written by any token",
        };
      },
    }),
    route({
      method: "post", path: "/policy/validate", tag: "policy", summary: "Validate a policy (nothing recorded)",
      query: PolicyFileQuery, body: policyBody(),
      response: z.object({ ok: z.literal(true), version: z.string(), groups: z.number().int(), apps: z.number().int() }),
      handle: ({ body }, req) => {
        const { text, file } = policySource(req, body);
        const p = lc.policy.validate(text, file);
        return { ok: true, version: p.version, groups: p.groups.length, apps: p.apps.length };
      },
    }),
    route({
      method: "post", path: "/policy/plan", tag: "policy", summary: "What applying a policy would change (nothing recorded)",
      query: PolicyFileQuery, body: policyBody(), response: z.looseObject({}),
      handle: ({ body }, req) => { const { text, file } = policySource(req, body); return lc.policy.plan(text, file); },
    }),
    route({
      method: "post", path: "/policy/apply", tag: "policy", summary: "Apply a policy: record it and converge memberships",
      query: PolicyFileQuery, body: policyBody(), response: z.looseObject({ recorded: z.boolean(), createdGroups: z.array(z.string()), unmanagedGroups: z.array(z.string()) }),
      handle: ({ body }, req) => { const { text, file } = policySource(req, body); return lc.policy.apply(text, file, actorOf(req)); },
    }),
    route({
      method: "post", path: "/policy/replay", tag: "policy",
      summary: "What a proposed policy would have done over the recorded HR changes of a window (nothing written)",
      description: "from, to and limit go in the query, or beside the policy in a JSON body.",
      query: PolicyFileQuery.extend({
        from: timeParam("the start of the replay window").optional(), to: timeParam("the end of the window (default now)").optional(),
        limit: intParam(1, REPLAY_MAX_DIFFERENCES, "at most this many differences").optional(),
      }),
      body: policyBody(PolicyJson.extend({ from: z.string().optional(), to: z.string().optional(), limit: z.union([z.number().int(), z.string()]).optional() })),
      response: z.looseObject({}),
      handle: ({ query, body }, req) => {
        // from/to/limit beside the policy in a JSON body win over the query
        const { from: f, to: t, limit: l, ...rest } = typeof body === "string" ? {} as Record<string, unknown> : body as Record<string, unknown>;
        const window = validateInput(z.object({
          from: timeParam("the start of the replay window").optional(), to: timeParam().optional(),
          limit: intParam(1, REPLAY_MAX_DIFFERENCES).optional(),
        }), { from: f ?? undefined, to: t ?? undefined, limit: l === undefined || l === null ? undefined : String(l) }, "body");
        const from = window.from ?? query.from;
        if (!from) throw badRequest("invalidValue", "from is required: the start of the replay window (ISO 8601)");
        const to = window.to ?? query.to ?? null;
        const { text, file } = policySource(req, typeof body === "string" ? body : rest);
        return lc.replay(text, file, { from, to, limit: window.limit ?? query.limit });
      },
    }),
  ];
}

export const lifecycleRouter = (d: LifecycleRouterDeps): Router => routerOf(lifecycleRoutes(d));
