// User use cases: create, replace, patch, delete. Each runs in one transaction that writes the user, its
// change record, and whatever the change hooks (rules, lifecycle, outbox) add — all or nothing.
import type pg from "pg";
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { issued, mapDbError, withTransaction, writeTogether } from "../store/database.ts";
import * as users from "../store/user-repository.ts";
import { insertChange } from "../store/change-repository.ts";
import { DomainError, conflict, notFound, badRequest } from "../shared/errors.ts";
import type { Clock } from "../domain/clock.ts";
import { normalisePatchOps, normaliseUserBody, type PatchOperation } from "./dialect.ts";
import { settleActive, toColumns, validateUser, type UserResource } from "./user-resource.ts";
import { changedAttributes, snapshotOf } from "./user-changes.ts";
import { checkIfMatch } from "./preconditions.ts";
import { applyPatch, assignsActive } from "./user-patch.ts";
import { PATCH_OP } from "./schemas.ts";
import type { ChangeHooks, HookCarry, HookOutcome, UserWrite, WriteContext } from "./write-context.ts";
import type { UserRow } from "../store/rows.ts";
import type { NewUser } from "../store/user-repository.ts";

export class UserService {
  constructor(private readonly pool: pg.Pool, private readonly clock: Clock, private readonly hooks: ChangeHooks = {}) {}


  /** `memberOf` is set when the user's groups are known without a read (none were derived on create). */
  async create(body: Record<string, unknown>, ctx: WriteContext): Promise<UserRow & { memberOf?: [] }> {
    const resource = validateUser(normaliseUserBody(body));
    const cols = toColumns(settleActive(resource, null, resource.active));
    // The id is ours (not the database's), so the change record is known before the insert and both go
    // in one statement: one round trip without hooks (no transaction needed), one less with them.
    const id = randomUUID();
    const now = this.clock.now();
    const draft = { ...cols, id, seq: 0, source: ctx.source, version: 1, createdAt: now, updatedAt: now };
    const changed = changedAttributes(null, draft);
    const change = { resourceType: "User" as const, resourceId: id, operation: "create" as const, changed,
      before: null, after: snapshotOf(draft), tokenId: ctx.tokenId, source: ctx.source, requestId: ctx.requestId, at: now };
    if (!this.hooks.afterUserWrite && !this.hooks.beforeUserWrite) {
      try {
        const { changeId: _, ...row } = await uniqueness(() => users.insertUser(this.pool, cols, ctx.source, now, id, change), cols.userName);
        return { ...row, memberOf: [] };
      } catch (e) { mapDbError(e); }
    }
    return withTransaction(this.pool, async (tx) => {
      const carry: HookCarry = {};
      // The insert does not depend on the policy the check reads (a create has nothing to complete), so it is
      // written right behind the policy lock's statement, not after its answer (pipelined: store/database.ts):
      // one round trip for both. A refusal is still the answer, and rolls the insert back with the transaction.
      writeTogether(tx);
      const authorised = this.authorised(tx, "create", null, cols.data, ctx, carry);
      const inserted = issued(uniqueness(() => users.insertUser(tx, cols, ctx.source, now, id, change), cols.userName));
      await authorised; // a refusal wins; the insert's own error is read after it
      const { changeId, ...row } = await inserted;
      const out = await this.hooks.afterUserWrite?.(tx, { operation: "create", before: null, after: row, changed, changeId: changeId!, ctx, at: now, carry });
      const stored = out?.accountChanged ? await this.locked(tx, id) : row;
      return out && !out.membershipsChanged ? { ...stored, memberOf: [] } : stored;
    });
  }

  /**
   * Creates users as `create` would one after another — same checks, same hooks in the same order, same
   * per-user outcome, and stopping once `maxErrors` of them failed (the ones after are not run: RFC 7644
   * §3.7.3 failOnErrors) — but set-at-a-time, in one transaction: one policy read under its lock, one
   * statement that stores every user with its change record (a userName already taken, or taken earlier in
   * the batch, stores nothing for that user: its 409), then each user's lifecycle in order, then one
   * statement for what the lifecycles deferred (their events, states and audit rows: afterUserBatch). A
   * user's lifecycle sees the users before it and not those after it (laterInBatch), as one create after
   * another would show them. A refused user (validation, source authority, a taken userName) is that user's
   * error and the batch goes on. When the batch cannot give exactly the outcomes `create` would — a
   * lifecycle that fails after its user was stored, or failOnErrors reached before a user the statement
   * stored — it rolls back and runs through `create`, one transaction per user.
   */
  async createMany(bodies: readonly Record<string, unknown>[], ctx: WriteContext, maxErrors = Infinity): Promise<CreateOutcome[]> {
    const prepared = bodies.map((body): PreparedCreate | DomainError => {
      try {
        const resource = validateUser(normaliseUserBody(body));
        return { resource: settleActive(resource, null, resource.active), id: randomUUID() };
      } catch (e) {
        if (e instanceof DomainError) return e;
        throw e;
      }
    });
    try {
      return await withTransaction(this.pool, (tx) => this.createBatch(tx, prepared, ctx, maxErrors));
    } catch (e) {
      if (!(e instanceof BatchFallback)) throw e;
    }
    const out: CreateOutcome[] = [];
    let errors = 0;
    for (const body of bodies) {
      if (errors >= maxErrors) break;
      try { out.push({ row: await this.create(body, ctx) }); } catch (e) {
        if (!(e instanceof DomainError) || e.status >= 500) throw e;
        out.push({ error: e }); errors++;
      }
    }
    return out;
  }

  private async createBatch(tx: pg.PoolClient, prepared: ReadonlyArray<PreparedCreate | DomainError>, ctx: WriteContext, maxErrors: number): Promise<CreateOutcome[]> {
    const carry: HookCarry = {}; // one transaction: the policy read under its lock serves every user of the batch
    // One instant for the batch: its users, change records, events and audit rows carry the same time.
    const now = this.clock.now();
    // 1. Each user checked as `create` checks it: validation (done), then source authority.
    const checked: Array<DomainError | NewUser> = [];
    for (const p of prepared) {
      if (p instanceof DomainError) { checked.push(p); continue; }
      try {
        const cols = toColumns(await this.authorised(tx, "create", null, p.resource, ctx, carry));
        const draft = { ...cols, id: p.id, seq: 0, source: ctx.source, version: 1, createdAt: now, updatedAt: now };
        checked.push({ id: p.id, cols, changed: changedAttributes(null, draft), after: snapshotOf(draft) });
      } catch (e) {
        if (!(e instanceof DomainError) || e.status >= 500) throw e;
        checked.push(e);
      }
    }
    // 2. One statement stores them all, in order.
    const valid = checked.filter((c): c is NewUser => !(c instanceof DomainError));
    const stored = await users.insertUsersUnlessTaken(tx, valid, ctx, now);
    // 3. The outcomes in order, up to failOnErrors.
    const out: CreateOutcome[] = [];
    let errors = 0, reached = checked.length;
    for (const [i, c] of checked.entries()) {
      if (errors >= maxErrors) { reached = i; break; }
      const row = c instanceof DomainError ? undefined : stored.get(c.id);
      if (row) { out.push({ row }); continue; }
      out.push({ error: c instanceof DomainError ? c : conflict(`userName '${c.cols.userName}' is already taken`) });
      errors++;
    }
    // One by one, the users after the error that reached failOnErrors would not have been stored.
    if (checked.slice(reached).some((c) => !(c instanceof DomainError) && stored.has(c.id))) throw new BatchFallback();
    // 4. Each user's lifecycle, in order; then what they deferred, in one statement.
    const order = valid.filter((v) => stored.has(v.id)).map((v) => v.id);
    let later = 0;
    for (const [k, o] of out.entries()) {
      if (!o.row) continue;
      const { changeId, ...inserted } = o.row as UserRow & { changeId: number };
      const changed = (checked[k] as NewUser).changed;
      let hook: void | HookOutcome | undefined;
      try {
        hook = await this.hooks.afterUserWrite?.(tx, { operation: "create", before: null, after: inserted, changed, changeId, ctx, at: now, carry,
          laterInBatch: order.slice(++later) });
      } catch (e) {
        // Alone, only this user would not exist; in the batch, the users before it are stored already.
        if (e instanceof DomainError && e.status < 500) throw new BatchFallback();
        throw e;
      }
      out[k] = { row: hook?.accountChanged ? await this.locked(tx, inserted.id) : inserted };
    }
    await this.hooks.afterUserBatch?.(tx, carry);
    return out;
  }

  async replace(id: string, body: Record<string, unknown>, ctx: WriteContext, ifMatch?: string): Promise<UserRow> {
    const resource = validateUser(normaliseUserBody(body));
    return withTransaction(this.pool, async (tx) => {
      const { carry, locked } = this.lockedForWrite(tx, id);
      const before = await locked;
      checkIfMatch(ifMatch, before.version);
      // RFC 7644 §3.5.1: a PUT that omits `active` (or sends null) keeps the stored value; it never
      // re-enables a disabled user (user-active.ts).
      const cols = toColumns(await this.authorised(tx, "replace", before, settleActive(resource, before, resource.active), ctx, carry));
      const now = this.clock.now();
      const row = await uniqueness(() => users.updateUser(tx, id, cols, now), cols.userName);
      return this.record(tx, "update", before, row, ctx, now, carry);
    });
  }

  async patch(id: string, body: Record<string, unknown>, ctx: WriteContext, ifMatch?: string): Promise<UserRow> {
    const ops = patchOperations(body, "User");
    return withTransaction(this.pool, async (tx) => {
      const { carry, locked } = this.lockedForWrite(tx, id);
      const before = await locked;
      checkIfMatch(ifMatch, before.version);
      const patched = await applyPatch(before.data, id, ops);
      if (!patched) return before; // no effective change (RFC 7644 §3.5.2: may return 200 with the resource)
      const resource = validateUser(normaliseUserBody(patched));
      // RFC 7644 §3.5.2.2: `remove` of active leaves it unassigned, which keeps the stored value; only an
      // operation that assigns active (or HR's employmentStatus becoming "active") changes it.
      const cols = toColumns(await this.authorised(tx, "patch", before, settleActive(resource, before, assignsActive(ops) ? resource.active : undefined), ctx, carry));
      if (isDeepStrictEqual(cols.data, before.data)) return before; // e.g. `remove active` on a stored value: nothing changed
      const now = this.clock.now();
      const row = await uniqueness(() => users.updateUser(tx, id, cols, now), cols.userName);
      return this.record(tx, "update", before, row, ctx, now, carry);
    });
  }

  async delete(id: string, ctx: WriteContext, ifMatch?: string): Promise<void> {
    await withTransaction(this.pool, async (tx) => {
      const before = await this.locked(tx, id);
      checkIfMatch(ifMatch, before.version);
      const now = this.clock.now();
      // Hooks see the deletion before the row goes, so they can still read its memberships.
      await this.record(tx, "delete", before, null, ctx, now);
      await users.deleteUser(tx, id);
    });
  }

  async get(id: string): Promise<UserRow> {
    const row = await users.findUser(this.pool, id);
    if (!row) throw notFound(`User ${id}`);
    return row;
  }

  /**
   * A replace's or patch's locked read of the user, with what the hooks issue before it (startUserWrite) and
   * right behind it (userLocked): one socket write, one round trip (writeTogether).
   */
  private lockedForWrite(tx: pg.PoolClient, id: string): { carry: HookCarry; locked: Promise<UserRow> } {
    const carry: HookCarry = {};
    writeTogether(tx);
    this.hooks.startUserWrite?.(tx, carry);
    const locked = this.locked(tx, id);
    if (users.isUuid(id)) this.hooks.userLocked?.(tx, carry, id); // otherwise there is no row: a 404 follows
    return { carry, locked };
  }

  /** The beforeUserWrite hook (source authority, write-context.ts): the resource to store, or a refusal. */
  private async authorised(tx: pg.PoolClient, operation: UserWrite["operation"], before: UserRow | null, resource: UserResource, ctx: WriteContext, carry: HookCarry): Promise<UserResource> {
    return this.hooks.beforeUserWrite ? this.hooks.beforeUserWrite(tx, { operation, before, resource, ctx, carry }) : resource;
  }

  private async locked(tx: pg.PoolClient, id: string): Promise<UserRow> {
    const row = await users.findUser(tx, id, { lock: true });
    if (!row) throw notFound(`User ${id}`);
    return row;
  }

  /**
   * Writes the change record and runs the hooks; returns the user as stored afterwards (the lifecycle may
   * have disabled a leaver, or written back a held re-activation: the response must show that, not what the
   * client sent).
   */
  private async record(tx: pg.PoolClient, operation: "create" | "update" | "delete", before: UserRow | null, after: UserRow | null, ctx: WriteContext, at: Date, carry?: HookCarry): Promise<UserRow> {
    const changed = changedAttributes(before, after);
    const changeId = await insertChange(tx, {
      resourceType: "User", resourceId: (after ?? before)!.id, operation, changed,
      before: before ? snapshotOf(before) : null, after: after ? snapshotOf(after) : null,
      tokenId: ctx.tokenId, source: ctx.source, requestId: ctx.requestId, at,
    });
    const out = await this.hooks.afterUserWrite?.(tx, { operation, before, after, changed, changeId, ctx, at, carry });
    return after && out?.accountChanged ? this.locked(tx, after.id) : (after ?? before)!;
  }
}

/** One user of createMany: stored (as it is now), or refused. */
export type CreateOutcome = { row: UserRow; error?: undefined } | { error: DomainError; row?: undefined };
interface PreparedCreate { resource: UserResource; id: string }
/** The batch cannot give the per-user outcomes `create` would: roll it back and run it one by one. */
class BatchFallback extends Error {}

/** Validates a PatchOp message envelope (RFC 7644 §3.5.2) and normalises its operations. */
export function patchOperations(body: Record<string, unknown>, kind: "User" | "Group"): PatchOperation[] {
  if (!Array.isArray(body.schemas) || !body.schemas.includes(PATCH_OP)) throw badRequest("invalidSyntax", `PATCH body must have schemas [${PATCH_OP}]`);
  const ops = (body.Operations ?? (body as any).operations) as unknown;
  if (!Array.isArray(ops) || ops.length === 0) throw badRequest("invalidSyntax", "PATCH body must have a non-empty Operations array");
  for (const [i, o] of ops.entries()) {
    if (!o || typeof o !== "object" || Array.isArray(o)) throw badRequest("invalidSyntax", `operation ${i + 1} must be an object with op, path and value`);
    const field = (name: string) => (o as Record<string, unknown>)[Object.keys(o).find((k) => k.toLowerCase() === name) ?? name];
    const op = field("op"), path = field("path"), value = field("value");
    if (typeof op !== "string") throw badRequest("invalidSyntax", `operation ${i + 1}: op must be "add", "remove" or "replace"`);
    if (path !== undefined && path !== null && typeof path !== "string") throw badRequest("invalidPath", `operation ${i + 1}: path must be a string (RFC 7644 §3.5.2)`);
    // RFC 7644 §3.5.2.1, §3.5.2.3: without a path, the value is an object of the attributes to change
    if (!path && /^(add|replace)$/i.test(op) && (!value || typeof value !== "object" || Array.isArray(value)))
      throw badRequest("invalidValue", `operation ${i + 1}: '${op}' without a path needs an object value of the attributes to change`);
  }
  return normalisePatchOps(ops as Array<Record<string, unknown>>, kind);
}

/** Maps a unique violation on user_name_key to 409 uniqueness (RFC 7644 §3.3). */
async function uniqueness<T>(fn: () => Promise<T>, userName: string): Promise<T> {
  try { return await fn(); } catch (e) {
    if ((e as { code?: string }).code === "23505") throw conflict(`userName '${userName}' is already taken`);
    throw e;
  }
}
