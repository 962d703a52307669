// Who is writing and why: carried from the HTTP edge into every write so change records, lifecycle
// events and audit rows name their cause.
import type pg from "pg";
import type { UserResource } from "./user-resource.ts";
import type { GroupRow, UserRow } from "../store/rows.ts";

export interface WriteContext { tokenId: string | null; source: string | null; requestId: string | null; actor: string }

export interface UserChange {
  operation: "create" | "update" | "delete"; before: UserRow | null; after: UserRow | null;
  changed: string[]; changeId: number; ctx: WriteContext; at: Date;
  /** what beforeUserWrite left for afterUserWrite in the same transaction (see HookCarry) */
  carry?: HookCarry;
  /**
   * Set for a create in a batch of creates (UserService.createMany): the users the batch stored after this one,
   * in the same statement — not there yet for this change. A hook may then defer writes to afterUserBatch.
   */
  laterInBatch?: readonly string[];
}

/**
 * One write's scratch space, shared by its beforeUserWrite and afterUserWrite: a fresh object per transaction
 * attempt (a re-run after a deadlock starts empty), so what one hook read under this transaction's locks —
 * the lifecycle's policy, read under the shared policy lock — is not read again by the next.
 */
export type HookCarry = Record<string, unknown>;
export interface GroupChange {
  operation: "create" | "update" | "delete"; before: GroupRow | null; after: GroupRow | null;
  added: string[]; removed: string[]; changeId: number; ctx: WriteContext; at: Date;
}

/**
 * In-transaction consumers of changes (rules → memberships, lifecycle events, fan-out outbox). They run
 * inside the writer's transaction: a joiner's groups exist when the HR request returns, and a change and
 * the work it causes commit together (transactional outbox) or not at all.
 */
export interface HookOutcome {
  membershipsChanged: boolean;
  /** the hook enabled or disabled the account itself (a leaver disabled, a held re-activation written back):
   *  the writer re-reads the user so its response shows what is stored */
  accountChanged?: boolean;
}

/** A user write about to be stored: the validated resource, `active` settled (user-active.ts). */
export interface UserWrite { operation: "create" | "replace" | "patch"; before: UserRow | null; resource: UserResource; ctx: WriteContext; carry?: HookCarry }

export interface ChangeHooks {
  /**
   * Run in a replace's or patch's transaction around the statement that reads and locks the user's row, and
   * must not await anything: a hook issues here the reads the write will need and keeps their promises in the
   * carry, so that they travel with the row's read (pipelined: store/database.ts). startUserWrite's statements
   * run before the row is locked (the policy under its lock), userLocked's after (what another writer of the
   * same user may have changed while this one waited for the row: the user's lifecycle state).
   */
  startUserWrite?(tx: pg.PoolClient, carry: HookCarry): void;
  userLocked?(tx: pg.PoolClient, carry: HookCarry, userId: string): void;
  /**
   * Runs in the write's transaction before anything is stored: may refuse the write (a DomainError, e.g. source
   * authority) or return the resource to store instead (a PUT's omitted attributes that another source owns).
   */
  beforeUserWrite?(tx: pg.PoolClient, write: UserWrite): Promise<UserResource>;
  /** May report whether the user's memberships changed (undefined: unknown — the caller re-reads them). */
  afterUserWrite?(tx: pg.PoolClient, change: UserChange): Promise<void | HookOutcome>;
  afterGroupWrite?(tx: pg.PoolClient, change: GroupChange): Promise<void>;
  /** A batch of creates has run every afterUserWrite: writes the hooks deferred (in the carry) go now, same transaction. */
  afterUserBatch?(tx: pg.PoolClient, carry: HookCarry): Promise<void>;
}
