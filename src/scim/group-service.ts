// Group use cases. Attribute changes go through scimmy (validation, PatchOp); membership changes never
// do: they are translated to row deltas (docs/scimmy.md 7), so a PATCH adding one member to a
// 10,000-member group writes one row, and a remove of an absent member succeeds (Entra expects it).
import SCIMMY from "scimmy";
import type pg from "pg";
import { withTransaction } from "../store/database.ts";
import * as groups from "../store/group-repository.ts";
import { insertChange } from "../store/change-repository.ts";
import { badRequest, conflict, notFound, DomainError } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import { normaliseGroupBody, type PatchOperation } from "./dialect.ts";
import { assertGroupInput, memberIdsOf, validateGroup } from "./group-resource.ts";
import { checkIfMatch } from "./preconditions.ts";
import { fromScimmy } from "./scimmy-errors.ts";
import { GROUP_SCHEMA, PATCH_OP } from "./schemas.ts";
import { patchOperations } from "./user-service.ts";
import { parseFilter } from "./filter-parser.ts";
import type { ChangeHooks, WriteContext } from "./write-context.ts";
import type { GroupRow } from "../store/rows.ts";

type MemberOp = { kind: "add" | "remove" | "replace"; ids?: string[] };

export class GroupService {
  constructor(private readonly pool: pg.Pool, private readonly clock: Clock, private readonly hooks: ChangeHooks = {}) {}

  async create(body: Record<string, unknown>, ctx: WriteContext): Promise<GroupRow> {
    const { data, memberIds = [] } = validateGroup(normaliseGroupBody(body));
    return withTransaction(this.pool, async (tx) => {
      const now = this.clock.now();
      const row = await guard(() => groups.insertGroup(tx, { displayName: data.displayName, externalId: data.externalId ?? null, data }, now), data.displayName);
      const added = await guard(() => groups.addMembers(tx, row.id, memberIds), data.displayName);
      await this.record(tx, "create", null, row, added, [], ctx, now);
      return row;
    });
  }

  async replace(id: string, body: Record<string, unknown>, ctx: WriteContext, ifMatch?: string): Promise<GroupRow> {
    const { data, memberIds } = validateGroup(normaliseGroupBody(body));
    return withTransaction(this.pool, async (tx) => {
      const before = await this.locked(tx, id);
      checkIfMatch(ifMatch, before.version);
      refuseRenameOfManaged(before, data.displayName);
      const now = this.clock.now();
      const row = await guard(() => groups.updateGroup(tx, id, { displayName: data.displayName, externalId: data.externalId ?? null, data }, now), data.displayName);
      const { added, removed } = await this.applyMemberOps(tx, id, memberIds === undefined ? [] : [{ kind: "replace", ids: memberIds }], data.displayName);
      await this.record(tx, "update", before, row, added, removed, ctx, now);
      return row;
    });
  }

  async patch(id: string, body: Record<string, unknown>, ctx: WriteContext, ifMatch?: string): Promise<GroupRow> {
    const { memberOps, attributeOps } = splitGroupOps(patchOperations(body, "Group"));
    return withTransaction(this.pool, async (tx) => {
      const before = await this.locked(tx, id);
      checkIfMatch(ifMatch, before.version);
      const now = this.clock.now();
      let row = before;
      if (attributeOps.length) {
        const data = await patchGroupAttributes(before, attributeOps);
        if (data) {
          refuseRenameOfManaged(before, data.displayName);
          row = await guard(() => groups.updateGroup(tx, id, { displayName: data.displayName, externalId: data.externalId ?? null, data }, now), data.displayName);
        }
      }
      const { added, removed } = await this.applyMemberOps(tx, id, memberOps, row.displayName);
      if (row === before && (added.length || removed.length)) row = await groups.touchGroup(tx, id, now);
      if (row !== before) await this.record(tx, "update", before, row, added, removed, ctx, now);
      return row;
    });
  }

  async delete(id: string, ctx: WriteContext, ifMatch?: string): Promise<void> {
    await withTransaction(this.pool, async (tx) => {
      const before = await this.locked(tx, id);
      checkIfMatch(ifMatch, before.version);
      if (before.managed) throw badRequest("mutability", `group '${before.displayName}' is managed by the broker policy; remove it from broker.yaml instead`);
      const now = this.clock.now();
      await this.record(tx, "delete", before, null, [], [], ctx, now);
      await groups.deleteGroup(tx, id);
    });
  }

  async get(id: string): Promise<GroupRow> {
    const row = await groups.findGroup(this.pool, id);
    if (!row) throw notFound(`Group ${id}`);
    return row;
  }

  private async applyMemberOps(tx: pg.PoolClient, id: string, ops: MemberOp[], name: string) {
    const added = new Set<string>(), removed = new Set<string>();
    const note = (gone: string[], got: string[]) => {
      for (const u of gone) { removed.add(u); added.delete(u); }
      for (const u of got) { added.add(u); removed.delete(u); }
    };
    for (const op of ops) {
      if (op.kind === "remove") note(await groups.removeMembers(tx, id, op.ids), []);
      else if (op.kind === "add") note([], await guard(() => groups.addMembers(tx, id, op.ids!), name));
      else note(await groups.removeMembersExcept(tx, id, op.ids!), await guard(() => groups.addMembers(tx, id, op.ids!), name));
    }
    return { added: [...added], removed: [...removed] };
  }

  private async locked(tx: pg.PoolClient, id: string): Promise<GroupRow> {
    const row = await groups.findGroup(tx, id, { lock: true });
    if (!row) throw notFound(`Group ${id}`);
    return row;
  }

  private async record(tx: pg.PoolClient, operation: "create" | "update" | "delete", before: GroupRow | null, after: GroupRow | null, added: string[], removed: string[], ctx: WriteContext, at: Date) {
    const view = (g: GroupRow | null) => g && { displayName: g.displayName, externalId: g.externalId };
    const changeId = await insertChange(tx, {
      resourceType: "Group", resourceId: (after ?? before)!.id, operation,
      changed: [...(before?.displayName !== after?.displayName ? ["displayName"] : []), ...(added.length || removed.length ? ["members"] : [])],
      before: view(before), after: after && { ...view(after), added, removed },
      tokenId: ctx.tokenId, source: ctx.source, requestId: ctx.requestId, at,
    });
    await this.hooks.afterGroupWrite?.(tx, { operation, before, after, added, removed, changeId, ctx, at });
  }
}

function refuseRenameOfManaged(before: GroupRow, displayName: string) {
  if (before.managed && displayName !== before.displayName)
    throw badRequest("mutability", `group '${before.displayName}' is managed by the broker policy and cannot be renamed`);
}

/** Splits PATCH operations into membership deltas and attribute operations (RFC 7644 §3.5.2). */
export function splitGroupOps(ops: PatchOperation[]): { memberOps: MemberOp[]; attributeOps: PatchOperation[] } {
  const memberOps: MemberOp[] = [], attributeOps: PatchOperation[] = [];
  for (const o of ops) {
    if (!["add", "remove", "replace"].includes(o.op)) throw badRequest("invalidSyntax", `invalid PATCH op '${o.op}'`);
    const path = o.path ?? "";
    if (/^members(\s*\[|$)/i.test(path)) {
      const filter = /^members\s*\[(.*)\]\s*$/i.exec(path)?.[1];
      if (filter !== undefined) {
        if (o.op !== "remove") throw badRequest("invalidPath", `'${o.op}' on a member filter is not supported; use add/remove on members`);
        memberOps.push({ kind: "remove", ids: memberIdsFromFilter(filter) });
      } else if (o.op === "remove") {
        memberOps.push({ kind: "remove", ids: o.value === undefined ? undefined : memberIdsOf(o.value) });
      } else {
        if (o.value === undefined) throw badRequest("invalidValue", `'${o.op}' of members needs a value`);
        memberOps.push({ kind: o.op, ids: memberIdsOf(o.value) });
      }
    } else if (/^members\./i.test(path)) {
      throw badRequest("mutability", "member sub-attributes cannot be changed; add or remove members instead");
    } else if (!o.path && o.value && typeof o.value === "object" && !Array.isArray(o.value)) {
      const { members, ...rest } = Object.fromEntries(Object.entries(o.value as object).map(([k, v]) => [k.toLowerCase() === "members" ? "members" : k, v]));
      if (members !== undefined) memberOps.push({ kind: o.op === "add" ? "add" : "replace", ids: memberIdsOf(members) });
      if (Object.keys(rest).length) attributeOps.push({ ...o, value: rest });
    } else attributeOps.push(o);
  }
  return { memberOps, attributeOps };
}

/**
 * `value eq "id"` (or several joined by `or`) → ids; anything else in a member filter → 400 invalidFilter.
 * The same grammar as every other filter (filter-parser.ts): normalisePatchOps has already parsed and bounded
 * this text as the PATCH path's value filter, so it parses here without error.
 */
function memberIdsFromFilter(expr: string): string[] {
  const ast = parseFilter(expr);
  return memberIdsOf((ast.op === "or" ? ast.nodes : [ast]).map((branch) => {
    if (branch.op !== "attr" || branch.path.toLowerCase() !== "value" || branch.cmp !== "eq") throw badRequest("invalidFilter", `unsupported member filter '${expr}': use value eq "<id>"`);
    return { value: branch.value };
  }));
}

async function patchGroupAttributes(before: GroupRow, ops: PatchOperation[]): Promise<Record<string, any> | null> {
  const instance = new SCIMMY.Schemas.Group({ ...before.data, schemas: [GROUP_SCHEMA], id: before.id, displayName: before.displayName }, "both");
  let result: unknown;
  try {
    const out = await new SCIMMY.Messages.PatchOp({ schemas: [PATCH_OP], Operations: ops }).apply(instance, async (i: any) => (result = i));
    if (out === undefined) return null;
  } catch (e) { throw fromScimmy(e, "invalidValue", (n) => ops[n - 1] && `'${ops[n - 1]!.op}'${ops[n - 1]!.path ? ` of '${ops[n - 1]!.path}'` : ""}`); }
  const data = JSON.parse(JSON.stringify(result));
  delete data.id; delete data.meta; delete data.members;
  if (typeof data.displayName !== "string" || !data.displayName.trim()) throw badRequest("invalidValue", "displayName is required");
  assertGroupInput(data);
  return data;
}

/** 23505 on display_name_key → 409; 23503 (member FK) → 400 invalidValue. */
async function guard<T>(fn: () => Promise<T>, displayName: string): Promise<T> {
  try { return await fn(); } catch (e) {
    if (e instanceof DomainError) throw e;
    const code = (e as { code?: string }).code;
    if (code === "23505") throw conflict(`a group named '${displayName}' already exists`);
    if (code === "23503") throw badRequest("invalidValue", "a member value does not reference an existing User");
    throw e;
  }
}
