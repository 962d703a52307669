// Admin API for the audit log. Thin: parse and validate the request, call the store, answer JSON.
// Authorisation belongs to whoever mounts the router (e.g. behind the admin scope under /admin/v1);
// errors go to the app's central error handler as DomainErrors with stable codes.
//   GET  /audit?user=&group=&kind=&from=&to=&sealed=&limit=&after=  → { items, next }
//   POST /audit/verify  { fromChainIndex?, fromHash? }               → { ok, checked, brokenAt?, reason?, detail?, tip, pending }
import express, { type Router } from "express";
import type pg from "pg";
import { DomainError } from "../shared/errors.ts";
import { isAuditKind, type AuditKind } from "../audit/audit-log.ts";
import { MAX_AUDIT_PAGE, queryAudit, verifyAudit, type AuditQuery } from "../audit/audit-store.ts";
import type { Checkpoint } from "../audit/audit-chain.ts";

export interface AuditRouterDeps {
  pool: pg.Pool;
  /** How long POST /audit/verify waits for older transactions before verifying what is sealed. */
  sealMaxWaitMs?: number;
}

const bad = (message: string) => new DomainError("BAD_REQUEST", 400, message, "invalidValue");

// Whatever the mounting app's query parser produced: a string, repeated values as an array, or nothing.
const param = (v: unknown): string | undefined => {
  const s = Array.isArray(v) ? v.join(",") : typeof v === "string" ? v : undefined;
  return s === undefined || s.trim() === "" ? undefined : s.trim();
};

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

export function parseKinds(v: string | undefined): AuditKind[] | undefined {
  if (v === undefined) return undefined;
  const kinds = v.split(",").map((k) => k.trim()).filter(Boolean);
  const unknown = kinds.filter((k) => !isAuditKind(k));
  if (unknown.length) throw bad(`unknown kind ${unknown.map((k) => `'${k}'`).join(", ")}`);
  return kinds as AuditKind[];
}

export function parseAuditQuery(q: Record<string, unknown>): AuditQuery {
  const from = parseTime("from", param(q.from));
  const to = parseTime("to", param(q.to));
  if (from && to && from >= to) throw bad("from must be before to");
  const sealed = param(q.sealed);
  if (sealed !== undefined && sealed !== "true" && sealed !== "false") throw bad(`sealed must be true or false, got '${sealed}'`);
  return {
    userId: param(q.user), group: param(q.group), kind: parseKinds(param(q.kind)), from, to,
    sealed: sealed === undefined ? undefined : sealed === "true",
    limit: parseInteger("limit", param(q.limit), 1, MAX_AUDIT_PAGE) ?? 100,
    after: parseInteger("after", param(q.after), 0, Number.MAX_SAFE_INTEGER),
  };
}

function parseCheckpoint(body: unknown): Checkpoint | undefined {
  const b = (body ?? {}) as { fromChainIndex?: unknown; fromHash?: unknown };
  if (b.fromChainIndex === undefined && b.fromHash === undefined) return undefined;
  if (!Number.isSafeInteger(b.fromChainIndex) || (b.fromChainIndex as number) < 0) throw bad("fromChainIndex must be a non-negative integer");
  if (typeof b.fromHash !== "string" || !/^[0-9a-f]{64}$/.test(b.fromHash)) throw bad("fromHash must be a 64-character lower-case hex SHA-256");
  return { chainIndex: b.fromChainIndex as number, hash: b.fromHash };
}

export function auditRouter(deps: AuditRouterDeps): Router {
  const router = express.Router();
  router.get("/audit", async (req, res) => {
    res.json(await queryAudit(deps.pool, parseAuditQuery(req.query as Record<string, unknown>)));
  });
  router.post("/audit/verify", express.json({ limit: "4kb" }), async (req, res) => {
    const from = parseCheckpoint(req.body);
    res.json(await verifyAudit(deps.pool, { from, sealMaxWaitMs: deps.sealMaxWaitMs }));
  });
  return router;
}
