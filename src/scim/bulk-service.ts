// /Bulk (RFC 7644 §3.7). Each operation has its own outcome (the RFC does not make Bulk atomic): consecutive user
// creates share one transaction (UserService.createMany), every other operation runs in its own;
// `bulkId:` references in paths and data are resolved, operations whose references are not yet known
// wait for a later pass (§3.7.2), circular references fail, and failOnErrors stops after N errors.
import { BULK_REQUEST, BULK_RESPONSE } from "./schemas.ts";
import { DomainError, badRequest } from "../shared/errors.ts";
import type { UserService } from "./user-service.ts";
import type { GroupService } from "./group-service.ts";
import type { WriteContext } from "./write-context.ts";
import { errorBody } from "./response-bodies.ts";

interface BulkOp { method: string; path: string; bulkId?: string; data?: unknown; version?: string }
interface BulkResult { method: string; bulkId?: string; location?: string; version?: string; status: string; response?: unknown }

const REF = /bulkId:([^"\s/]+)/g;
/** Users created in one transaction at most (a batch holds its transaction's locks until it commits). */
const BATCH_SIZE = 200;

/** POST /Users with a bulkId: what a batch of creates takes (anything else runs through `run`). */
const isUserCreate = (o: BulkOp): boolean =>
  !!o && typeof o === "object" && typeof o.method === "string" && o.method.toUpperCase() === "POST" && typeof o.path === "string" &&
  /^\/Users$/i.test(o.path) && typeof o.bulkId === "string" && o.bulkId !== "";

export class BulkService {
  constructor(private readonly users: UserService, private readonly groups: GroupService, private readonly maxOperations: number) {}

  async execute(body: Record<string, unknown>, ctx: WriteContext, base: string) {
    if (!Array.isArray(body.schemas) || !body.schemas.includes(BULK_REQUEST)) throw badRequest("invalidSyntax", `a Bulk body must have schemas [${BULK_REQUEST}]`);
    const ops = body.Operations;
    if (!Array.isArray(ops) || ops.length === 0) throw badRequest("invalidSyntax", "Operations must be a non-empty array");
    if (ops.length > this.maxOperations)
      throw new DomainError("PAYLOAD_TOO_LARGE", 413, `the request has ${ops.length} operations; maxOperations is ${this.maxOperations}`);
    const failOnErrors = failOnErrorsOf(body.failOnErrors);

    const ids = new Map<string, string>(); // bulkId → created resource id
    const results: Array<BulkResult | undefined> = new Array(ops.length);
    let pending = ops.map((o, i) => ({ o: o as BulkOp, i }));
    let errors = 0;
    // Consecutive creates of users run as one batch (UserService.createMany: one transaction, the users stored
    // and their lifecycles run in operation order, each with its own result): the batch ends before any other
    // operation, before an operation that references one of its bulkIds, and at BATCH_SIZE.
    let batch: Array<{ o: BulkOp; i: number; data: Record<string, unknown> }> = [];
    const inBatch = new Set<string>();
    const flush = async () => {
      if (!batch.length) return;
      const run = batch;
      batch = []; inBatch.clear();
      const outcomes = await this.users.createMany(run.map((b) => b.data), ctx, failOnErrors - errors);
      for (const [k, r] of outcomes.entries()) {
        const { o, i } = run[k]!;
        if (r.error) { results[i] = fail(o, r.error); errors++; continue; }
        ids.set(o.bulkId!, r.row.id);
        results[i] = { method: "POST", bulkId: o.bulkId, location: `${base}/Users/${r.row.id}`, version: `W/"${r.row.version}"`, status: "201" };
      }
      // operations after the one that reached failOnErrors did not run, and get no result (as below)
    };
    while (pending.length && errors < failOnErrors) {
      const waiting: typeof pending = [];
      for (const { o, i } of pending) {
        const r = refs(o);
        if (r.some((x) => inBatch.has(x))) await flush();
        if (errors >= failOnErrors) break;
        const unresolved = r.filter((x) => !ids.has(x));
        if (unresolved.length) { waiting.push({ o, i }); continue; }
        if (isUserCreate(o)) {
          batch.push({ o, i, data: (resolve(o, ids).data ?? {}) as Record<string, unknown> });
          inBatch.add(o.bulkId!);
          if (batch.length >= BATCH_SIZE) await flush();
          continue;
        }
        await flush();
        if (errors >= failOnErrors) break;
        const res = await this.run(o, ids, ctx, base);
        results[i] = res;
        if (Number(res.status) >= 400) errors++;
      }
      await flush();
      if (waiting.length === pending.length) { // nothing progressed: unknown or circular bulkIds (§3.7.2)
        for (const { o, i } of waiting) { results[i] = fail(o, badRequest("invalidValue", `unresolvable bulkId reference in operation ${i + 1}`)); errors++; }
        break;
      }
      pending = waiting;
    }
    return { schemas: [BULK_RESPONSE], Operations: results.filter((r): r is BulkResult => r !== undefined) };
  }

  private async run(o: BulkOp, ids: Map<string, string>, ctx: WriteContext, base: string): Promise<BulkResult> {
    try {
      if (!o || typeof o !== "object" || typeof o.method !== "string" || typeof o.path !== "string") throw badRequest("invalidSyntax", "each operation needs method and path");
      const method = o.method.toUpperCase();
      const resolved = resolve(o, ids);
      const m = /^\/(Users|Groups)(?:\/([^/]+))?$/i.exec(resolved.path);
      if (!m) throw badRequest("invalidPath", `unsupported bulk path '${o.path}'`);
      const svc = m[1]!.toLowerCase() === "users" ? this.users : this.groups;
      const kind = m[1]!.toLowerCase() === "users" ? "Users" : "Groups";
      const id = m[2];
      const data = (resolved.data ?? {}) as Record<string, unknown>;
      const ifMatch = o.version;
      if (method === "POST" && !id) {
        if (!o.bulkId) throw badRequest("invalidSyntax", "POST operations need a bulkId (RFC 7644 §3.7)");
        const row = await svc.create(data, ctx);
        ids.set(o.bulkId, row.id);
        return { method, bulkId: o.bulkId, location: `${base}/${kind}/${row.id}`, version: `W/"${row.version}"`, status: "201" };
      }
      if (!id) throw badRequest("invalidPath", `${method} needs a resource id in the path`);
      const location = `${base}/${kind}/${id}`;
      if (method === "PUT") { const row = await svc.replace(id, data, ctx, ifMatch); return { method, bulkId: o.bulkId, location, version: `W/"${row.version}"`, status: "200" }; }
      if (method === "PATCH") { const row = await svc.patch(id, data, ctx, ifMatch); return { method, bulkId: o.bulkId, location, version: `W/"${row.version}"`, status: "200" }; }
      if (method === "DELETE") { await svc.delete(id, ctx, ifMatch); return { method, bulkId: o.bulkId, location, status: "204" }; }
      throw badRequest("invalidSyntax", `unsupported bulk method '${o.method}'`);
    } catch (e) {
      if (e instanceof DomainError && e.status < 500) return fail(o, e);
      throw e; // a database outage fails the whole request with 503 rather than half-reporting
    }
  }
}

/**
 * RFC 7644 §3.7.3: failOnErrors is "an integer specifying the number of errors that the service provider
 * will accept before the operation is terminated"; absent (or null: unassigned, §3.5.1) means no limit. 0
 * would stop before the first operation and answer an empty, successful-looking response; a negative,
 * fractional or non-numeric value has no meaning. Both are refused before anything runs.
 */
function failOnErrorsOf(value: unknown): number {
  if (value === undefined || value === null) return Infinity;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
    throw badRequest("invalidValue", `failOnErrors must be an integer of at least 1 (RFC 7644 §3.7.3), or absent for no limit; got ${JSON.stringify(value).slice(0, 40)}`);
  return value;
}

function refs(o: BulkOp): string[] {
  const text = JSON.stringify([o?.path, o?.data]);
  return [...text.matchAll(REF)].map((m) => m[1]!).filter((r) => r !== o?.bulkId || o?.method?.toUpperCase() !== "POST");
}

function resolve(o: BulkOp, ids: Map<string, string>): { path: string; data: unknown } {
  const sub = (s: string) => s.replace(REF, (_, ref: string) => ids.get(ref) ?? `bulkId:${ref}`);
  const walk = (v: unknown): unknown =>
    typeof v === "string" ? sub(v) : Array.isArray(v) ? v.map(walk) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : v;
  return { path: sub(o.path), data: walk(o.data) };
}

const fail = (o: BulkOp, e: DomainError): BulkResult =>
  ({ method: String(o?.method ?? "").toUpperCase(), bulkId: o?.bulkId, status: String(e.status), response: errorBody(e) });
