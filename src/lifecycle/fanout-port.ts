// The seam between lifecycle (what a user should have) and fan-out (making every app agree). Lifecycle
// calls it inside the HR request's transaction, so the delivery jobs commit with the change that needs
// them (transactional outbox). The fan-out layer implements it (src/fanout/delivery/outbox.ts); without apps it writes nothing.
import type pg from "pg";

export interface UserChangedEvent {
  userId: string;
  /** the user must lose every app account now (leaver); delivered ahead of other work */
  leaver: boolean;
  /** the change record that caused it (null for scheduled transitions and policy applies) */
  changeId: number | null;
  /** why: joiner | mover | leaver | leave | return | rehire | conversion | update | policy | exception | review | guard-release */
  cause: string;
  at: Date;
}

export interface MembershipChangedEvent { groupId: string; groupName: string; added: string[]; removed: string[]; at: Date }

export interface FanoutPort {
  userChanged(tx: pg.PoolClient, e: UserChangedEvent): Promise<void>;
  membershipChanged(tx: pg.PoolClient, e: MembershipChangedEvent): Promise<void>;
  /** a user row is about to be deleted: remember what apps must deprovision */
  userDeleted(tx: pg.PoolClient, e: UserChangedEvent): Promise<void>;
  /**
   * A batch of creates ends (lifecycle-batch.ts): the same as userChanged for each of `users`, then
   * membershipChanged for each of `memberships`, in order — written set-at-a-time where the port can.
   */
  changedInBatch(tx: pg.PoolClient, c: BatchChanges): Promise<void>;
}

/** What a batch of creates' lifecycles handed to the fan-out, in order (no leaver, no deletion among them). */
export interface BatchChanges { users: readonly UserChangedEvent[]; memberships: readonly MembershipChangedEvent[] }
