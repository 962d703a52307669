// The exceptions register's use cases: grant / keep / block one managed group for one user, with reason,
// owner, optional approver and expiry; revoke. Each runs in one transaction that records the exception,
// audits it and re-evaluates the user (the membership follows at once); expiry is the sweep's (schedule.ts).
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import { findUser } from "../store/user-repository.ts";
import { badRequest, conflict, notFound } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import { policyGroup } from "../rules/policy-loader.ts";
import type { ExceptionKind } from "../rules/evaluate.ts";
import { handleUserChange, type LifecycleContext } from "./user-lifecycle.ts";
import { AuditTrail } from "./audit-trail.ts";
import { findException, insertException, listExceptions, revokeException, type ExceptionRow } from "./exception-store.ts";
import { resolveUserId } from "./user-ref.ts";

export const EXCEPTION_KINDS: readonly ExceptionKind[] = ["grant", "keep", "block"];

export interface ExceptionRequest {
  /** user id or userName */
  user: string; group: string; kind: ExceptionKind; reason: string; owner: string;
  approver?: string | null; expiresAt?: Date | null;
}

export interface ExceptionResult { exception: ExceptionRow; gained: string[]; lost: string[] }

export class ExceptionService {
  constructor(private readonly pool: pg.Pool, private readonly ctx: LifecycleContext, private readonly clock: Clock) {}

  async create(req: ExceptionRequest, actor: string, opts: { reviewId?: string } = {}): Promise<ExceptionResult> {
    if (!EXCEPTION_KINDS.includes(req.kind)) throw badRequest("invalidValue", `kind must be one of ${EXCEPTION_KINDS.join(", ")}`);
    for (const k of ["user", "group", "reason", "owner"] as const)
      if (typeof req[k] !== "string" || !req[k].trim()) throw badRequest("invalidValue", `${k} is required`);
    const now = this.clock.now();
    if (req.expiresAt && req.expiresAt.getTime() <= now.getTime()) throw badRequest("invalidValue", "expiresAt must be in the future");
    return withTransaction(this.pool, (tx) => this.createIn(tx, req, actor, now, opts));
  }

  /** Inside a caller's transaction (a review denial records its block here). */
  async createIn(tx: pg.PoolClient, req: ExceptionRequest, actor: string, now: Date, opts: { reviewId?: string } = {}): Promise<ExceptionResult> {
    const userId = await resolveUserId(tx, req.user);
    const user = await findUser(tx, userId, { lock: true });
    if (!user) throw notFound(`User ${req.user}`);
    const { policy } = await this.ctx.policies.current(tx);
    const group = policyGroup(policy, req.group);
    if (!group) throw badRequest("invalidValue", `'${req.group}' is not a group of the active policy (${policy.version})`);
    // A grant of a privileged group skips the owner's review, so it must name who approved it.
    if (req.kind === "grant" && group.privileged && !req.approver?.trim())
      throw badRequest("invalidValue", `'${group.name}' is privileged: a grant needs an approver`);
    const exception = await insertException(tx, {
      userId, group: group.name, kind: req.kind, reason: req.reason.trim(), owner: req.owner.trim(), approver: req.approver?.trim() || null,
      expiresAt: req.expiresAt ?? null, reviewId: opts.reviewId ?? null, createdBy: actor,
    }, now);
    const audit = new AuditTrail({ actor, exceptionId: exception.id, policyVersion: policy.version, ...(opts.reviewId ? { reviewId: opts.reviewId } : {}) });
    audit.add("exception.created", { userId, groupName: group.name, details: { kind: exception.kind, reason: exception.reason, owner: exception.owner, approver: exception.approver, expiresAt: exception.expiresAt?.toISOString() ?? null } });
    await audit.flush(tx, now);
    const out = await handleUserChange(tx, this.ctx, { before: user, after: user, at: now, changeId: null, trigger: "exception", actor, cause: { exceptionId: exception.id } });
    return { exception, gained: out.gained, lost: out.lost };
  }

  async revoke(id: string, actor: string, reason: string | null): Promise<ExceptionResult> {
    const now = this.clock.now();
    return withTransaction(this.pool, async (tx) => {
      const found = await findException(tx, id);
      if (!found) throw notFound(`Exception ${id}`);
      const user = await findUser(tx, found.userId, { lock: true });
      const exception = await revokeException(tx, id, actor, reason, now);
      if (!exception) throw conflict(`exception ${id} is already ${found.revokedAt ? "revoked" : "expired"}`);
      const audit = new AuditTrail({ actor, exceptionId: id });
      audit.add("exception.revoked", { userId: exception.userId, groupName: exception.group, details: { kind: exception.kind, reason } });
      await audit.flush(tx, now);
      if (!user) return { exception, gained: [], lost: [] };
      const out = await handleUserChange(tx, this.ctx, { before: user, after: user, at: now, changeId: null, trigger: "exception", actor, cause: { exceptionId: id } });
      return { exception, gained: out.gained, lost: out.lost };
    });
  }

  async list(f: { user?: string; group?: string; open?: boolean; limit?: number }): Promise<ExceptionRow[]> {
    const userId = f.user ? await resolveUserId(this.pool, f.user) : undefined;
    return listExceptions(this.pool, { userId, group: f.group, open: f.open, limit: Math.min(f.limit ?? 500, 5000) });
  }

  async get(id: string): Promise<ExceptionRow> {
    const e = await findException(this.pool, id);
    if (!e) throw notFound(`Exception ${id}`);
    return e;
  }
}
