// The active policy, held in memory and keyed by the policy_version row it came from. Every transaction
// that derives memberships asks `current(tx)`, which
//   1. takes the policy lock in SHARED mode for the rest of the transaction, and
//   2. reads the id of the latest policy_version row (one index probe), re-parsing the YAML only when it changed.
// Recording a new version takes the same lock EXCLUSIVELY (policy-apply.ts), so it waits for transactions
// that are deriving memberships with the old policy to commit, and every transaction after it sees the new
// row. That is how several broker processes agree on the policy without LISTEN/NOTIFY: the database is the
// only source of truth, and the cache is a parse cache.
import type pg from "pg";
import { loadPolicy, PolicyError, type Policy } from "../rules/policy-loader.ts";
import type { Logger } from "../shared/logger.ts";
import { latestPolicyId, policyVersionById } from "./policy-store.ts";

type Q = Pick<pg.PoolClient, "query">;

/**
 * Advisory lock keys (two-int form, its own key space): the policy, and the converge that follows an apply.
 * ns and policy are repeated in the migration's broker_policy_lock_shared().
 */
export const LOCKS = { ns: 0x5342524b /* "SBRK" */, policy: 1, converge: 2, guardNs: 0x53424744 /* "SBGD" */ } as const;

export interface ActivePolicy {
  /** policy_version.id, null when no policy was ever recorded */
  id: number | null;
  policy: Policy;
}

export class PolicyHolder {
  private active: ActivePolicy;
  /** a version that failed to load here: not re-parsed (nor re-logged) on every transaction */
  private failedId: number | null = null;

  constructor(private readonly log: Logger) {
    this.active = { id: null, policy: PolicyHolder.empty() };
  }

  /** No groups, no apps, default guards: what a broker without broker.yaml runs with. */
  static empty(): Policy { return loadPolicy("groups: []\n", { file: "(none)" }); }

  /** Parses a policy file's text; throws PolicyError. No environment: credentials keep their ${VAR} references. */
  parse(text: string, file: string): Policy { return loadPolicy(text, { file }); }

  /** The policy last seen (no database round trip): for read-only views and the fan-out's app list. */
  get last(): ActivePolicy { return this.active; }

  /** Takes the shared policy lock and returns the latest recorded policy. Call inside a transaction. */
  async current(tx: Q): Promise<ActivePolicy> {
    // One round trip: the migration's broker_policy_lock_shared() takes the lock, then reads max(id) with a
    // snapshot taken after the lock was granted (see the migration).
    const { rows } = await tx.query(`SELECT broker_policy_lock_shared() AS id`);
    return this.resolve(tx, rows[0].id === null ? null : Number(rows[0].id));
  }

  /** Reads the latest version without locking (plans, views). */
  async refresh(q: Q): Promise<ActivePolicy> {
    return this.resolve(q, await latestPolicyId(q));
  }

  private async resolve(q: Q, id: number | null): Promise<ActivePolicy> {
    if (id === this.active.id || id === this.failedId) return this.active;
    if (id === null) return (this.active = { id: null, policy: PolicyHolder.empty() });
    const row = await policyVersionById(q, id);
    if (!row) return this.active;
    try {
      this.active = { id, policy: this.parse(row.yaml, row.file ?? "(stored)") };
    } catch (e) {
      // Another process (a newer version of the broker, say) recorded a file this one cannot load. Keep serving
      // with the last good policy rather than failing every HR write; say so loudly.
      if (!(e instanceof PolicyError)) throw e;
      this.failedId = id;
      this.log.error({ code: e.code, policyVersion: row.version, issues: e.issues }, "the latest recorded policy does not load in this process; keeping the previous one");
    }
    return this.active;
  }
}
