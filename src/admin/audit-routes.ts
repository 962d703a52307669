// Admin API for the audit log. Thin: parse and validate the request, call the store, answer JSON.
// Authorisation belongs to whoever mounts the router (e.g. behind the admin scope under /admin/v1);
// errors go to the app's central error handler as DomainErrors with stable codes. Declared once
// (admin-route.ts): the express routes and their OpenAPI operations come from the same schemas.
//   GET  /audit?user=&group=&kind=&from=&to=&sealed=&limit=&after=  → { items, next }
//   POST /audit/verify  { fromChainIndex?, fromHash? }               → { ok, checked, brokenAt?, reason?, detail?, tip, pending }
import express, { type Router } from "express";
import type pg from "pg";
import * as z from "zod";
import { DomainError } from "../shared/errors.ts";
import { AUDIT_KINDS } from "../audit/audit-log.ts";
import { MAX_AUDIT_PAGE, queryAudit, verifyAudit } from "../audit/audit-store.ts";
import type { Checkpoint } from "../audit/audit-chain.ts";
import { route, routerOf, type AdminRoute } from "./admin-route.ts";
import { boolParam, intParam, listOf, ref, timeParam, Timestamp } from "./admin-schemas.ts";

export interface AuditRouterDeps {
  pool: pg.Pool;
  /** How long POST /audit/verify waits for older transactions before verifying what is sealed. */
  sealMaxWaitMs?: number;
}

const bad = (message: string) => new DomainError("BAD_REQUEST", 400, message, "invalidValue");

// ISO 8601 only: Date.parse alone would also take "3" or "May 5" and answer with surprising windows.
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
export function parseTime(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const t = ISO.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw bad(`${name} must be an ISO 8601 date or timestamp, got '${v}'`);
  return new Date(t);
}

export function parseInteger(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw bad(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
  return Number(v);
}

const AuditQueryParams = z.object({
  user: ref("the user's id"), group: ref("a group name"),
  kind: listOf(AUDIT_KINDS, "kind", "audit event kinds"),
  from: timeParam("events at or after this time"), to: timeParam("events before this time"),
  sealed: boolParam("only events already chained (true) or not yet (false)"),
  limit: intParam(1, MAX_AUDIT_PAGE, `page size (default 100, at most ${MAX_AUDIT_PAGE})`),
  after: intParam(0, Number.MAX_SAFE_INTEGER, "the `next` of the previous page"),
}).partial().refine((q) => !(q.from && q.to && q.from >= q.to), { error: "from must be before to" });

const AuditCause = z.looseObject({
  changeId: z.number().int().optional(), rule: z.string().optional(), policyVersion: z.string().optional(),
  exceptionId: z.string().optional(), reviewId: z.string().optional(), tokenId: z.string().optional(), actor: z.string().optional(),
});
const AuditEventSchema = z.object({
  seq: z.number().int(), at: Timestamp, kind: z.enum(AUDIT_KINDS), userId: z.string().nullable(), groupName: z.string().nullable(),
  app: z.string().nullable(), cause: AuditCause, details: z.record(z.string(), z.unknown()).nullable(),
  chainIndex: z.number().int().nullable().meta({ description: "null until the sealer chains it" }), prevHash: z.string().nullable(), hash: z.string().nullable(),
}).meta({ id: "AuditEvent" });
const Checkpoint = z.object({ chainIndex: z.number().int(), hash: z.string() });

const VerifyBody = z.object({
  fromChainIndex: z.number().int().min(0).optional().meta({ description: "verify from this checkpoint (with fromHash)" }),
  fromHash: z.string().regex(/^[0-9a-f]{64}$/, { error: "must be a 64-character lower-case hex SHA-256" }).optional(),
}).refine((b) => (b.fromChainIndex === undefined) === (b.fromHash === undefined), { error: "must be sent with fromChainIndex (both or neither)", path: ["fromHash"] });

export function auditRoutes(deps: AuditRouterDeps): AdminRoute[] {
  return [
    route({
      method: "get", path: "/audit", tag: "audit", summary: "Read the audit log (filtered, paged by seq)",
      query: AuditQueryParams,
      response: z.object({ items: z.array(AuditEventSchema), next: z.number().int().nullable().meta({ description: "pass as after= for the next page" }) }),
      handle: ({ query: q }) => queryAudit(deps.pool, { userId: q.user, group: q.group, kind: q.kind, from: q.from, to: q.to, sealed: q.sealed, limit: q.limit ?? 100, after: q.after }),
    }),
    route({
      method: "post", path: "/audit/verify", tag: "audit", summary: "Verify the audit hash chain",
      body: { schema: VerifyBody, parser: express.json({ limit: "4kb" }) },
      response: z.looseObject({
        ok: z.boolean(), checked: z.number().int(), brokenAt: z.number().int().optional(), reason: z.string().optional(),
        detail: z.string().optional(), tip: Checkpoint.nullable(), pending: z.number().int(),
      }),
      handle: ({ body: b }) => {
        const from: Checkpoint | undefined = b.fromChainIndex === undefined ? undefined : { chainIndex: b.fromChainIndex, hash: b.fromHash! };
        return verifyAudit(deps.pool, { from, sealMaxWaitMs: deps.sealMaxWaitMs });
      },
    }),
  ];
}

export const auditRouter = (deps: AuditRouterDeps): Router => routerOf(auditRoutes(deps));
