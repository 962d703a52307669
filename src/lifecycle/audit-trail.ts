// Collects the audit events of one transaction and appends them in one statement at its end
// (audit/audit-log.ts appendAudit), each with the cause shared by the whole change (HR change record,
// token, actor, policy version) plus its own (rule, exception, review).
import type pg from "pg";
import { appendAudit, type AuditCause, type AuditInput, type AuditKind } from "../audit/audit-log.ts";
import type { MembershipCause } from "../rules/diff.ts";

type Q = Pick<pg.PoolClient, "query">;

export class AuditTrail {
  readonly inputs: AuditInput[] = [];
  readonly base: AuditCause;

  constructor(base: { changeId?: number | null; tokenId?: string | null; actor?: string; policyVersion?: string; exceptionId?: string; reviewId?: string }) {
    this.base = compact(base);
  }

  add(kind: AuditKind, e: { userId?: string; groupName?: string; cause?: Partial<AuditCause>; details?: Record<string, unknown> } = {}): void {
    this.inputs.push({
      kind, ...(e.userId ? { userId: e.userId } : {}), ...(e.groupName ? { groupName: e.groupName } : {}),
      cause: { ...this.base, ...compact(e.cause ?? {}) }, ...(e.details ? { details: e.details } : {}),
    });
  }

  /** Hands the collected rows to a writer that inserts them in its own statement. */
  take(): AuditInput[] { return this.inputs.splice(0); }

  async flush(q: Q, at: Date): Promise<void> {
    if (!this.inputs.length) return;
    await appendAudit(q, this.inputs, at);
    this.inputs.length = 0;
  }
}

/** The audit cause of a membership row: the rule and policy version, or the exception. */
export function membershipCause(c: MembershipCause | null | undefined): Partial<AuditCause> {
  if (!c) return {};
  if ("exceptionId" in c) return { exceptionId: c.exceptionId };
  return { rule: c.rule, ...(c.policyVersion ? { policyVersion: c.policyVersion } : {}) };
}

function compact<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as never;
}
