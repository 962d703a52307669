// Composition of the rules and lifecycle layer, called once by the composition root (broker.ts) and by the
// CLI through it: the ChangeHooks for the SCIM services, the use-case services for the admin API and CLI,
// the sweep task and its cron line, and start() — which loads broker.yaml (BROKER_CONFIG, or ./broker.yaml
// when present), records it when it differs from the active version, and finishes any interrupted converge.
import type pg from "pg";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import type { TaskList } from "graphile-worker";
import type { Registry } from "prom-client";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import type { FanoutPort } from "./fanout-port.ts";
import type { PolicyHolder } from "./policy-holder.ts";
import type { LifecycleContext } from "./user-lifecycle.ts";
import { lifecycleHooks } from "./lifecycle-hooks.ts";
import { PolicyService } from "./policy-apply.ts";
import { ExceptionService } from "./exceptions.ts";
import { ReviewService } from "./reviews.ts";
import { runLifecycleSweep, SWEEP_CRONTAB, SWEEP_TASK, type SweepResult } from "./schedule.ts";
import { listEvents, type LifecycleEventRow } from "./event-store.ts";
import { policyVersionById, type PolicyVersionRow } from "./policy-store.ts";
import type { Policy } from "../rules/policy-loader.ts";
import { resolveUserId } from "./user-ref.ts";
import { dataQualityMetric } from "./data-quality-step.ts";
import { replayPolicy, type ReplayView } from "./policy-replay.ts";

export interface LifecycleOptions {
  pool: pg.Pool;
  clock: Clock;
  log: Logger;
  /** the active policy, shared with the fan-out (both built before lifecycle by the composition root) */
  policies: PolicyHolder;
  /** the fan-out layer's port (src/fanout/delivery/outbox.ts): called inside the HR transaction */
  fanout: FanoutPort;
  /** the policy file to load at start */
  policyFile?: string;
  /** the file was named explicitly (BROKER_CONFIG): a missing file is an error, not "no policy" */
  policyFileRequired?: boolean;
  /** the broker's metrics registry (broker_data_quality_signals_total) */
  registry?: Registry;
}

export function createLifecycle(o: LifecycleOptions) {
  const { policies, fanout } = o;
  const ctx: LifecycleContext = { policies, fanout, log: o.log, ...(o.registry ? { signals: dataQualityMetric(o.registry) } : {}) };
  const policy = new PolicyService(o.pool, ctx, o.clock);
  const exceptions = new ExceptionService(o.pool, ctx, o.clock);
  const reviews = new ReviewService(o.pool, ctx, o.clock, exceptions);
  const sweep = (): Promise<SweepResult> => runLifecycleSweep(o.pool, ctx, o.clock);
  const tasks: TaskList = { [SWEEP_TASK]: async () => { await sweep(); } };

  return {
    ctx, policies, policy, exceptions, reviews, tasks, crontab: [SWEEP_CRONTAB],
    hooks: lifecycleHooks(ctx),
    /** Runs the scheduled transitions and exception expiries due at the clock's now (tests call it directly). */
    sweep,
    async events(f: { user?: string; limit?: number; before?: number }): Promise<LifecycleEventRow[]> {
      const userId = f.user ? await resolveUserId(o.pool, f.user) : undefined;
      return listEvents(o.pool, { userId, limit: Math.min(f.limit ?? 100, 1000), before: f.before });
    },
    /** What a proposed policy would have done over the recorded HR changes of a window (nothing written). */
    replay(text: string, file: string, w: { from: Date; to?: Date | null; limit?: number; onProgress?: (done: number, total: number) => void }): Promise<ReplayView> {
      return replayPolicy(o.pool, policies, text, file, { from: w.from, to: w.to ?? o.clock.now(), limit: w.limit, onProgress: w.onProgress });
    },
    /** The active policy and its policy_version row (null when none was ever recorded). */
    async activePolicy(): Promise<{ policy: Policy; row: PolicyVersionRow | null }> {
      const active = await policies.refresh(o.pool);
      return { policy: active.policy, row: active.id === null ? null : await policyVersionById(o.pool, active.id) };
    },
    /** Loads the policy file (if any) and converges; throws PolicyError for an invalid file (fail fast). */
    async start(): Promise<void> {
      const file = o.policyFile;
      if (file && existsSync(file)) {
        const text = await readFile(file, "utf8");
        const r = await policy.apply(text, file, "startup");
        o.log.info({ file, version: r.to, recorded: r.recorded, users: r.users, groups: Object.keys(r.groups).length }, "policy loaded");
      } else {
        if (file && o.policyFileRequired) throw new Error(`BROKER_CONFIG: policy file ${file} not found`);
        await policy.converge("startup"); // an apply interrupted by a crash
        const active = await policies.refresh(o.pool);
        o.log.info({ version: active.policy.version, recorded: active.id !== null }, active.id === null ? "no policy file: no managed groups" : "policy loaded from the database");
      }
    },
  };
}
export type Lifecycle = ReturnType<typeof createLifecycle>;
