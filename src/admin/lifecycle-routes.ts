// Admin API of the rules and lifecycle layer, mounted under /admin/v1 behind the admin scope (admin-router.ts).
// Thin: parse and validate the request, call the use case, answer JSON. Errors are JSON
// {error: {code, message}} with the stable codes of shared/errors.ts (POLICY_INVALID adds `issues`).
//
//   GET    /exceptions?user=&group=&open=true|false&limit=   → {items}
//   POST   /exceptions {user, group, kind, reason, owner, approver?, expiresAt?}   → 201 {exception, gained, lost}
//   GET    /exceptions/:id
//   DELETE /exceptions/:id {reason?} (or ?reason=)            → {exception, gained, lost}   (revoke)
//   GET    /reviews?status=&kind=&user=&limit=                → {items}   (mass-deprovision items list their held users)
//   GET    /reviews/:id
//   POST   /reviews/:id/approve {reason}    POST /reviews/:id/deny {reason}
//   GET    /events?user=&limit=&before=                       → {items}   (lifecycle events, newest first)
//   GET    /policy                                            → the active version and its groups
//   GET    /sources                                           → who owns which user attribute (source authority)
//   POST   /policy/validate | /policy/plan | /policy/apply    body: the YAML (Content-Type application/yaml or
//          text/*; ?file= names it in messages), JSON {yaml, file?}, or the policy itself as JSON
//          {groups, apps, guards, sources, dataQuality}. Never a path: the broker reads no file on a caller's behalf.
//   POST   /policy/replay?from=&to=&limit=                    the policy as above (a JSON body may carry from, to,
//          limit beside it) → what it would have done over the recorded HR changes of the window (nothing written)
import express, { type Request, type Router } from "express";
import { badRequest } from "../shared/errors.ts";
import type { Principal } from "../auth/authenticator.ts";
import type { Logger } from "../shared/logger.ts";
import type { Lifecycle } from "../lifecycle/lifecycle.ts";
import { EXCEPTION_KINDS } from "../lifecycle/exceptions.ts";
import { REVIEW_KINDS, REVIEW_STATUSES, type ReviewKind, type ReviewStatus } from "../lifecycle/review-store.ts";
import type { ExceptionKind } from "../rules/evaluate.ts";
import { REPLAY_MAX_DIFFERENCES } from "../lifecycle/policy-replay.ts";

export interface LifecycleRouterDeps { lifecycle: Lifecycle; log: Logger }

const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);
const actorOf = (req: Request) => { const p = req.user as Principal | undefined; return p ? `token:${p.name}` : "admin"; };
const bodyOf = (req: Request): Record<string, unknown> => (req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body : {});

function limitOf(v: unknown, max: number): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max) throw badRequest("invalidValue", `limit must be an integer from 1 to ${max}`);
  return Number(s);
}

function dateOf(name: string, v: unknown): Date | null {
  if (v === undefined || v === null || v === "") return null;
  const t = typeof v === "string" && /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw badRequest("invalidValue", `${name} must be an ISO 8601 timestamp`);
  return new Date(t);
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!allowed.includes(s as T)) throw badRequest("invalidValue", `${name} must be one of ${allowed.join(", ")}`);
  return s as T;
}

const POLICY_KEYS = new Set(["groups", "apps", "guards", "sources", "dataQuality"]);

/**
 * The policy text of a request, from its body only: a YAML body, JSON {yaml, file?}, or the policy as a JSON
 * object (YAML 1.2 reads JSON, so it is loaded as text and issues still carry lines). A `path` is refused
 * without touching the file system: the admin API must not become a way to read the broker host's files.
 */
function policySource(req: Request, body: unknown = req.body): { text: string; file: string } {
  if (typeof body === "string") return { text: body, file: str(req.query.file) ?? "(request)" };
  const b = body && typeof body === "object" && !Array.isArray(body) ? body as Record<string, unknown> : {};
  if (typeof b.yaml === "string") return { text: b.yaml, file: str(b.file) ?? "(request)" };
  const keys = Object.keys(b);
  if (keys.length > 0 && keys.every((k) => POLICY_KEYS.has(k))) return { text: JSON.stringify(b, null, 2), file: "(request)" };
  throw badRequest("invalidValue",
    "send the policy in the request body: YAML (Content-Type: application/yaml), JSON {yaml}, or the policy as JSON {groups, apps, guards, sources, dataQuality}; file paths are not accepted");
}

export function lifecycleRouter(d: LifecycleRouterDeps): Router {
  const r = express.Router();
  const { lifecycle: lc } = d;
  const yaml = express.text({ type: ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"], limit: "2mb" });

  // ---- exceptions register ----
  r.get("/exceptions", async (req, res) => {
    const open = str(req.query.open);
    const items = await lc.exceptions.list({ user: str(req.query.user), group: str(req.query.group), open: open === undefined ? undefined : open === "true", limit: limitOf(req.query.limit, 5000) });
    res.json({ items });
  });
  r.post("/exceptions", async (req, res) => {
    const b = bodyOf(req);
    const kind = oneOf("kind", b.kind, EXCEPTION_KINDS) as ExceptionKind | undefined;
    if (!kind) throw badRequest("invalidValue", `kind is required (${EXCEPTION_KINDS.join(", ")})`);
    const out = await lc.exceptions.create({
      user: String(b.user ?? ""), group: String(b.group ?? ""), kind, reason: String(b.reason ?? ""), owner: String(b.owner ?? ""),
      approver: str(b.approver) ?? null, expiresAt: dateOf("expiresAt", b.expiresAt),
    }, actorOf(req));
    res.status(201).json(out);
  });
  r.get("/exceptions/:id", async (req, res) => { res.json(await lc.exceptions.get(String(req.params.id))); });
  r.delete("/exceptions/:id", async (req, res) => {
    res.json(await lc.exceptions.revoke(String(req.params.id), actorOf(req), str(bodyOf(req).reason) ?? str(req.query.reason) ?? null));
  });

  // ---- review queue ----
  r.get("/reviews", async (req, res) => {
    const items = await lc.reviews.list({
      status: oneOf("status", req.query.status, REVIEW_STATUSES) as ReviewStatus | undefined,
      kind: oneOf("kind", req.query.kind, REVIEW_KINDS) as ReviewKind | undefined,
      user: str(req.query.user), limit: limitOf(req.query.limit, 5000),
    });
    res.json({ items });
  });
  r.get("/reviews/:id", async (req, res) => { res.json(await lc.reviews.get(String(req.params.id))); });
  r.post("/reviews/:id/approve", async (req, res) => { res.json(await lc.reviews.approve(String(req.params.id), String(bodyOf(req).reason ?? ""), actorOf(req))); });
  r.post("/reviews/:id/deny", async (req, res) => { res.json(await lc.reviews.deny(String(req.params.id), String(bodyOf(req).reason ?? ""), actorOf(req))); });

  // ---- lifecycle events ----
  r.get("/events", async (req, res) => {
    const before = str(req.query.before);
    // An id beyond 2^53 would be rounded here and overflow bigint in SQL (22003): refused as 400.
    if (before !== undefined && (!/^\d{1,16}$/.test(before) || !Number.isSafeInteger(Number(before)))) throw badRequest("invalidValue", "before must be an event id");
    res.json({ items: await lc.events({ user: str(req.query.user), limit: limitOf(req.query.limit, 1000), before: before ? Number(before) : undefined }) });
  });

  // ---- policy ----
  r.get("/policy", async (_req, res) => {
    const { row, policy: p } = await lc.activePolicy();
    res.json({
      version: p.version, file: row?.file ?? null, appliedAt: row?.appliedAt ?? null, appliedBy: row?.appliedBy ?? null,
      convergedAt: row?.convergedAt ?? null,
      groups: p.groups.map((g) => ({ name: g.name, when: g.when, privileged: g.privileged, portable: g.portable, owner: g.owner ?? null, description: g.description ?? null })),
      apps: p.apps.map((a) => a.name), guards: { massDeprovision: p.guards.massDeprovision },
      sources: p.sources.map((x) => ({ name: x.name, owner: x.owner ?? null, owns: x.owns })), dataQuality: p.dataQuality,
    });
  });
  r.get("/sources", async (_req, res) => {
    const { policy: p } = await lc.activePolicy();
    res.json({
      sources: p.sources.map((s) => ({ name: s.name, owner: s.owner ?? null, owns: s.owns })),
      attributes: p.owned.map((a) => ({ attribute: a.name, path: a.path, owner: a.owner })),
      unowned: "attributes no source owns may be written by any token",
    });
  });
  r.post("/policy/validate", yaml, async (req, res) => {
    const { text, file } = policySource(req);
    const p = lc.policy.validate(text, file);
    res.json({ ok: true, version: p.version, groups: p.groups.length, apps: p.apps.length });
  });
  r.post("/policy/plan", yaml, async (req, res) => { const { text, file } = policySource(req); res.json(await lc.policy.plan(text, file)); });
  r.post("/policy/apply", yaml, async (req, res) => { const { text, file } = policySource(req); res.json(await lc.policy.apply(text, file, actorOf(req))); });
  r.post("/policy/replay", yaml, async (req, res) => {
    // from/to/limit in the query, or beside the policy in a JSON body
    const { from: f, to: t, limit: l, ...rest } = typeof req.body === "string" ? {} as Record<string, unknown> : bodyOf(req);
    const param = (v: unknown, q: unknown) => (v === undefined || v === null ? q : String(v));
    const from = dateOf("from", param(f, req.query.from));
    if (!from) throw badRequest("invalidValue", "from is required: the start of the replay window (ISO 8601)");
    const { text, file } = policySource(req, typeof req.body === "string" ? req.body : rest);
    res.json(await lc.replay(text, file, { from, to: dateOf("to", param(t, req.query.to)), limit: limitOf(param(l, req.query.limit), REPLAY_MAX_DIFFERENCES) }));
  });
  return r;
}
